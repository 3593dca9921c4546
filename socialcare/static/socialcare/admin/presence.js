/* Presence and the collision guard on the case page (docs/case-page.md, "Who else is here").
   Reports this page every few seconds (at once when the agent starts typing), shows who else is
   here and typing, and what was recorded on the case since the page was drawn. An aid only: the
   server refuses a reply written against a conversation that moved on, JavaScript or not. */
(function () {
  "use strict";

  var TYPING_FRESH_MS = 5000; // a keystroke this recent counts as typing
  var TYPING_REPORT_MS = 3000; // at most one extra "typing" report this often

  function csrfToken() {
    var field = document.querySelector('input[name="csrfmiddlewaretoken"]');
    if (field) {
      return field.value;
    }
    var match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  function names(list) {
    var fragment = document.createDocumentFragment();
    list.forEach(function (other, i) {
      if (i > 0) {
        fragment.appendChild(document.createTextNode(", "));
      }
      var span = document.createElement("span");
      span.className = "sc-presence__name";
      span.setAttribute("data-user", String(other.user));
      span.textContent = other.name;
      fragment.appendChild(span);
    });
    return fragment;
  }

  function setup(box) {
    var url = box.getAttribute("data-url");
    var since = box.getAttribute("data-since");
    var pollMs = parseInt(box.getAttribute("data-poll-ms"), 10) || 5000;
    var viewing = document.getElementById("sc-presence-viewing");
    var typingLine = document.getElementById("sc-presence-typing");
    var live = document.getElementById("sc-live-changes");
    var liveList = document.getElementById("sc-live-list");
    var text = document.getElementById("sc-reply-text");
    var lastKey = 0;
    var lastTypingReport = 0;
    var timer = null;
    var stopped = false;

    function typingNow() {
      return Boolean(text && text.value.trim()) && Date.now() - lastKey < TYPING_FRESH_MS;
    }

    function show(data) {
      var others = data.others || [];
      viewing.hidden = others.length === 0;
      var holder = viewing.querySelector(".sc-presence__names");
      holder.textContent = "";
      holder.appendChild(names(others));
      var typists = others.filter(function (other) {
        return other.typing;
      });
      typingLine.hidden = typists.length === 0;
      typingLine.textContent = "";
      if (typists.length) {
        typingLine.appendChild(names(typists));
        typingLine.appendChild(
          document.createTextNode(typists.length > 1 ? " are typing a reply…" : " is typing a reply…")
        );
      }
      var changed = data.changed;
      if (live && changed && changed.count > 0) {
        liveList.textContent = "";
        (changed.changes || []).forEach(function (change) {
          var li = document.createElement("li");
          li.setAttribute("data-kind", change.kind);
          var who = document.createElement("strong");
          who.textContent =
            change.by + (change.kind === "note" ? " added a note" : change.kind === "reply" ? " replied" : " wrote");
          li.appendChild(who);
          li.appendChild(document.createTextNode(": " + change.text));
          liveList.appendChild(li);
        });
        live.hidden = false;
      }
    }

    function report(typing) {
      var body = new FormData();
      body.append("csrfmiddlewaretoken", csrfToken());
      if (typing) {
        body.append("typing", "1");
      }
      return fetch(url + "?since=" + encodeURIComponent(since), {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
      })
        .then(function (response) {
          var json = (response.headers.get("Content-Type") || "").indexOf("json") !== -1;
          return response.ok && json ? response.json() : null;
        })
        .then(function (data) {
          if (data && !stopped) {
            show(data);
          }
        })
        .catch(function () {
          /* offline for a moment: the next poll tries again */
        });
    }

    function tick() {
      if (stopped) {
        return;
      }
      report(typingNow()).then(function () {
        if (!stopped) {
          timer = window.setTimeout(tick, pollMs);
        }
      });
    }

    if (text) {
      text.addEventListener("input", function () {
        lastKey = Date.now();
        if (lastKey - lastTypingReport > TYPING_REPORT_MS && text.value.trim()) {
          lastTypingReport = lastKey;
          report(true);
        }
      });
    }
    window.addEventListener("pagehide", function () {
      stopped = true;
      window.clearTimeout(timer);
      var body = new FormData();
      body.append("csrfmiddlewaretoken", csrfToken());
      body.append("leaving", "1");
      if (navigator.sendBeacon) {
        navigator.sendBeacon(url, body);
      }
    });
    window.addEventListener("pageshow", function (event) {
      if (event.persisted && stopped) {
        stopped = false; // back from the browser's page cache
        tick();
      }
    });
    tick();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("sc-presence");
    if (box && box.getAttribute("data-url")) {
      setup(box);
    }
  });
})();
