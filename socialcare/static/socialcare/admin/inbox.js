/* The inbox (docs/inbox.md): keyboard shortcuts (j/k move, Enter opens, x selects, / searches;
   the overlay and the "not while typing" rule are in shortcuts.js) and the filter bar's
   dropdowns (one open at a time; a click elsewhere or Escape closes them). An aid only: the
   page works without JavaScript. */
(function () {
  "use strict";

  var WIDE = "(min-width: 701px)"; // below: the filters are stacked disclosures, not dropdowns
  var FILTERS_STATE = "django.admin.filtersState";

  function setupRows(table) {
    var current = -1;

    function rows() {
      return Array.prototype.slice.call(table.querySelectorAll("tbody tr"));
    }

    function link(row) {
      return row.querySelector("th a, td a[href*='/change/']");
    }

    function select(index) {
      var all = rows();
      if (!all.length) {
        return;
      }
      index = Math.max(0, Math.min(all.length - 1, index));
      all.forEach(function (row, i) {
        row.classList.toggle("sc-row--current", i === index);
        if (i === index) {
          row.setAttribute("aria-current", "true");
        } else {
          row.removeAttribute("aria-current");
        }
      });
      current = index;
      var row = all[index];
      var target = link(row);
      if (target) {
        target.focus({ preventScroll: true });
      }
      row.scrollIntoView({ block: "nearest" });
    }

    function selected() {
      return current >= 0 ? rows()[current] || null : null;
    }

    // A click or a focus (Tab) in a row makes it the current one, so j/k go on from there.
    table.addEventListener("focusin", function (event) {
      var row = event.target.closest("tbody tr");
      var index = row ? rows().indexOf(row) : -1;
      if (index >= 0 && index !== current) {
        rows().forEach(function (other, i) {
          other.classList.toggle("sc-row--current", i === index);
          if (i !== index) {
            other.removeAttribute("aria-current");
          }
        });
        row.setAttribute("aria-current", "true");
        current = index;
      }
    });

    function open(event) {
      var row = selected();
      var active = document.activeElement;
      var target = row && link(row);
      if (!target) {
        return false;
      }
      // Enter on another control (a filter link, the Go button) keeps its own meaning.
      if (active && active !== document.body && active !== target && !row.contains(active)) {
        return false;
      }
      if (active && active.type === "checkbox") {
        return false;
      }
      window.location.assign(target.href);
      return true;
    }

    function toggleCheck() {
      var row = selected();
      var box = row && row.querySelector("input.action-select");
      if (!box) {
        return false;
      }
      box.click(); // Django's actions.js counts it and highlights the row
      return true;
    }

    window.socialcareShortcuts.register(
      {
        j: function () {
          select(current + 1);
        },
        k: function () {
          select(current < 0 ? 0 : current - 1);
        },
        Enter: open,
        x: toggleCheck,
        "/": function () {
          var search = document.getElementById("searchbar");
          if (!search) {
            return false;
          }
          search.focus();
          search.select();
          return true;
        },
      },
      [
        ["j", "Next case"],
        ["k", "Previous case"],
        ["Enter", "Open the selected case"],
        ["x", "Select the case for a bulk action"],
        ["/", "Search"],
      ],
      { title: "Inbox" }
    );
  }

  // Django's filters.js remembers each filter's open state by title for every change list; a
  // dropdown is not meant to be remembered (it would cover the list on the next page).
  function forget(detail) {
    try {
      var state = JSON.parse(window.sessionStorage.getItem(FILTERS_STATE) || "{}");
      if (state && Object.prototype.hasOwnProperty.call(state, detail.dataset.filterTitle)) {
        delete state[detail.dataset.filterTitle];
        window.sessionStorage.setItem(FILTERS_STATE, JSON.stringify(state));
      }
    } catch (error) {
      /* storage disabled: nothing was remembered */
    }
  }

  function setupFilters(bar) {
    var dropdowns = Array.prototype.slice.call(bar.querySelectorAll("details.sc-filter"));
    var wide = window.matchMedia(WIDE);

    dropdowns.forEach(function (detail) {
      detail.open = false; // filters.js (run before) may have reopened it
      forget(detail);
      detail.addEventListener("toggle", function () {
        forget(detail); // after filters.js's own listener, added before this one
        if (detail.open && wide.matches) {
          dropdowns.forEach(function (other) {
            if (other !== detail) {
              other.open = false;
            }
          });
        }
      });
    });
    document.addEventListener("click", function (event) {
      if (!wide.matches) {
        return;
      }
      dropdowns.forEach(function (detail) {
        if (detail.open && !detail.contains(event.target)) {
          detail.open = false;
        }
      });
    });
    bar.addEventListener("keydown", function (event) {
      if (event.key !== "Escape" || !wide.matches) {
        return;
      }
      var detail = event.target.closest("details.sc-filter");
      if (detail && detail.open) {
        detail.open = false;
        detail.querySelector("summary").focus();
        event.preventDefault();
      }
    });
  }

  var table = document.getElementById("result_list");
  if (table && window.socialcareShortcuts) {
    setupRows(table);
    var button = document.getElementById("sc-shortcuts-button");
    if (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        window.socialcareShortcuts.show();
      });
    }
  }
  var bar = document.getElementById("changelist-filter");
  if (bar) {
    setupFilters(bar);
  }
})();
