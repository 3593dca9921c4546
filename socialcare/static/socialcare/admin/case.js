/* The case page (socialcare admin): canned replies, live character count, debounced tone check,
   SLA countdowns, the latest entries of a long conversation in view, keyboard shortcuts (through
   shortcuts.js, included before this file). Everything here is an aid: the forms post and are
   checked on the server without JavaScript too. No dependencies. */
(function () {
  "use strict";

  function chars(text) {
    return Array.from(text).length; // code points, as the server counts them
  }

  function setupComposer(form) {
    var text = form.querySelector("#sc-reply-text");
    var canned = form.querySelector("#sc-canned");
    var count = form.querySelector("#sc-char-count");
    var list = form.querySelector("#sc-tone-warnings");
    var anywayRow = form.querySelector("#sc-send-anyway-row");
    var anyway = form.querySelector("#sc-send-anyway");
    var radios = form.querySelectorAll('input[name="visibility"]');
    var toneUrl = form.getAttribute("data-tone-url");
    var token = form.querySelector('input[name="csrfmiddlewaretoken"]');
    var timer = null;
    var sequence = 0;

    function visibility() {
      var checked = form.querySelector('input[name="visibility"]:checked');
      return checked ? checked.value : "public";
    }

    function limit() {
      var value = form.getAttribute("data-limit-" + visibility());
      return value ? parseInt(value, 10) : null;
    }

    function updateCount() {
      var n = chars(text.value);
      var max = limit();
      count.textContent = n + " / " + (max === null ? "no limit" : max);
      var over = max !== null && n > max;
      count.classList.toggle("sc-count--over", over);
      text.setAttribute("aria-invalid", over ? "true" : "false");
    }

    function showWarnings(warnings) {
      list.textContent = "";
      warnings.forEach(function (warning) {
        var li = document.createElement("li");
        li.setAttribute("data-code", warning.code);
        li.textContent = warning.message;
        list.appendChild(li);
      });
      anywayRow.hidden = warnings.length === 0;
      if (warnings.length === 0) {
        anyway.checked = false;
      }
    }

    function checkTone() {
      var mine = ++sequence;
      var body = new FormData();
      body.append("text", text.value);
      body.append("visibility", visibility());
      fetch(toneUrl, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": token ? token.value : "" },
      })
        .then(function (response) {
          return response.ok ? response.json() : null;
        })
        .then(function (data) {
          if (data && mine === sequence) {
            showWarnings(data.warnings || []);
          }
        })
        .catch(function () {
          /* the server checks again on send */
        });
    }

    function scheduleTone() {
      window.clearTimeout(timer);
      timer = window.setTimeout(checkTone, 400);
    }

    function filterCanned() {
      var vis = visibility();
      Array.prototype.forEach.call(canned.options, function (option) {
        var only = option.getAttribute("data-visibility");
        option.hidden = Boolean(only) && only !== vis;
      });
    }

    canned.addEventListener("change", function () {
      var option = canned.options[canned.selectedIndex];
      var filled = option && option.getAttribute("data-text");
      if (filled === null || filled === undefined) {
        return;
      }
      text.value = filled;
      updateCount();
      scheduleTone();
      text.focus();
    });
    text.addEventListener("input", function () {
      updateCount();
      scheduleTone();
    });
    Array.prototype.forEach.call(radios, function (radio) {
      radio.addEventListener("change", function () {
        filterCanned();
        updateCount();
        scheduleTone();
      });
    });
    filterCanned();
    updateCount();
    if (text.value) {
      scheduleTone();
    }
  }

  function minutesText(ms) {
    var minutes = Math.floor(Math.abs(ms) / 60000);
    var span;
    if (minutes >= 48 * 60) {
      span = Math.floor(minutes / 1440) + " d " + (Math.floor(minutes / 60) % 24) + " h";
    } else if (minutes >= 60) {
      span = Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
    } else {
      span = minutes + " min";
    }
    return ms >= 0 ? "in " + span : "overdue by " + span;
  }

  function tickCountdowns() {
    var now = Date.now();
    document.querySelectorAll(".sc-countdown[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (!isNaN(due)) {
        el.textContent = minutesText(due - now);
        el.parentNode.classList.toggle("sc-overdue", due < now);
      }
    });
  }

  /* A conversation taller than its box (wide screens, case.css) opens on its latest entries,
     unless the address asks for the top of the timeline ("Show older"). */
  function showLatest() {
    var timeline = document.getElementById("sc-timeline");
    if (!timeline || window.location.hash === "#sc-timeline") {
      return;
    }
    if (timeline.scrollHeight > timeline.clientHeight) {
      timeline.scrollTop = timeline.scrollHeight;
      timeline.tabIndex = 0; // a scrolling box: reachable and scrollable by keyboard
    }
  }

  /* Case page keys (docs/case-page.md, "Keyboard shortcuts"). "a" and "e" submit the Work form,
     exactly as choosing in it and pressing Save does. */
  function focusField(id) {
    var field = document.getElementById(id);
    if (!field) {
      return false;
    }
    field.scrollIntoView({ block: "center" });
    field.focus({ preventScroll: true });
    return true;
  }

  function announce(text) {
    var live = document.getElementById("sc-shortcut-status");
    if (!live) {
      live = document.createElement("p");
      live.id = "sc-shortcut-status";
      live.className = "sc-notice";
      live.setAttribute("role", "status");
      var main = document.querySelector(".sc-case__main") || document.body;
      main.insertBefore(live, main.firstChild);
    }
    live.textContent = text;
  }

  function submitWork(select, value, already, refusal) {
    var form = document.getElementById("sc-work-form");
    var field = form && form.querySelector(select);
    if (!field) {
      return false;
    }
    var options = Array.prototype.slice.call(field.options);
    var saved = options.filter(function (option) {
      return option.defaultSelected;
    })[0];
    if (saved && saved.value === value) {
      announce(already);
      return true;
    }
    if (!value || !options.some(function (option) { return option.value === value; })) {
      announce(refusal);
      return true;
    }
    field.value = value;
    var save = form.querySelector("#sc-save-work");
    if (form.requestSubmit) {
      form.requestSubmit(save || undefined);
    } else {
      form.submit();
    }
    return true;
  }

  function caseShortcuts() {
    var work = document.getElementById("sc-work-form");
    var me = work ? work.getAttribute("data-me") : "";
    return {
      keys: {
        r: function () {
          return focusField("sc-reply-text");
        },
        n: function () {
          return focusField("sc-note-text");
        },
        p: function () {
          return focusField("sc-handoff-via") || focusField("sc-handoff-panel");
        },
        e: function () {
          return submitWork(
            "#sc-work-status",
            "resolved",
            "This case is already resolved.",
            "This case cannot be resolved from its status."
          );
        },
        a: function () {
          return submitWork(
            "#sc-work-assignee",
            me || "",
            "This case is already assigned to you.",
            "You cannot be assigned this case."
          );
        },
      },
      help: [
        ["r", "Reply: go to the reply box"],
        ["n", "Note: go to the internal note box"],
        ["p", "Take it private: go to that form"],
        ["e", "Resolve the case (saves the Work form)"],
        ["a", "Assign the case to me (saves the Work form)"],
      ],
    };
  }

  function setupShortcuts() {
    var shortcuts = window.socialcareShortcuts;
    if (!shortcuts || !document.getElementById("sc-case")) {
      return;
    }
    var mine = caseShortcuts();
    shortcuts.register(mine.keys, mine.help, { title: "Case page" });
    var button = document.getElementById("sc-shortcuts-button");
    if (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        shortcuts.show();
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("sc-reply-form");
    if (form) {
      setupComposer(form);
    }
    if (document.querySelector(".sc-countdown[data-due]")) {
      window.setInterval(tickCountdowns, 30000);
    }
    showLatest();
    setupShortcuts();
  });
})();
