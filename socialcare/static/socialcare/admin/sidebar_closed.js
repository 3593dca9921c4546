/* On socialcare's pages (the inbox, the case page) the admin's app sidebar starts collapsed
   unless the user has chosen. Loaded without defer in the head, so it runs before Django's
   nav_sidebar.js (deferred) reads the key; once that has, an unchosen key is removed again, so
   the host's other admin pages keep Django's default (open). Clicking Django's toggle is a
   choice Django remembers everywhere. */
(function () {
  "use strict";
  var key = "django.admin.navSidebarIsOpen";
  try {
    if (window.localStorage.getItem(key) === null) {
      window.localStorage.setItem(key, "false");
      document.addEventListener("DOMContentLoaded", function () {
        if (window.localStorage.getItem(key) === "false") {
          window.localStorage.removeItem(key);
        }
      });
    }
  } catch (error) {
    /* storage disabled: Django's default (open) */
  }
})();
