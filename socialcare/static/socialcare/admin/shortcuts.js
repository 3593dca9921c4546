/* Keyboard shortcuts on socialcare's admin pages (docs/inbox.md, "Keyboard shortcuts"), shared
   by the inbox and the case page. A page registers its keys and their help lines:

     window.socialcareShortcuts.register({j: nextRow, k: previousRow}, [["j", "Next case"], ...]);

   A handler gets the keydown event; the key counts as handled (its default action is prevented)
   unless the handler returns false. Keys are matched on event.key ("j", "Enter", "?"). Nothing
   fires while the user types in a text field, a select or an editable element, nor with Ctrl,
   Alt or Meta held. "?" shows or hides the help overlay, Escape hides it. No dependencies. */
(function () {
  "use strict";

  if (window.socialcareShortcuts) {
    return; // included twice: the first copy stays in charge
  }

  var NOT_TYPING = ["button", "checkbox", "color", "file", "image", "radio", "range", "reset", "submit"];
  var STYLE =
    ".sc-shortcuts{position:fixed;inset:0;z-index:1000;display:flex;align-items:center;" +
    "justify-content:center;background:rgba(0,0,0,.45);padding:16px}" +
    ".sc-shortcuts[hidden]{display:none}" +
    ".sc-shortcuts__box{background:var(--body-bg,#fff);color:var(--body-fg,#333);" +
    "border:1px solid var(--border-color,#ccc);border-radius:6px;max-width:30em;width:100%;" +
    "max-height:90vh;overflow:auto;padding:16px 20px;box-shadow:0 4px 24px rgba(0,0,0,.3)}" +
    ".sc-shortcuts__head{display:flex;justify-content:space-between;align-items:center;gap:1em}" +
    ".sc-shortcuts__head h2{margin:0;padding:0;font-size:1rem;background:none;" +
    "color:var(--body-fg,#333)}" +
    ".sc-shortcuts table{width:100%;margin-top:.75em;border:0}" +
    ".sc-shortcuts th{width:7em;white-space:nowrap;background:none;border:0;padding:4px 8px 4px 0}" +
    ".sc-shortcuts td{border:0;padding:4px 0;color:var(--body-fg,#333)}" +
    ".sc-shortcuts caption{text-align:left;font-weight:600;padding:.5em 0 .25em;" +
    "color:var(--body-quiet-color,#666);background:none;caption-side:top}" +
    ".sc-shortcuts kbd{display:inline-block;min-width:1.4em;padding:1px 6px;text-align:center;" +
    "font:600 .85rem/1.4 var(--font-family-monospace,monospace);color:var(--body-fg,#333);" +
    "background:var(--darkened-bg,#f8f8f8);border:1px solid var(--border-color,#ccc);" +
    "border-bottom-width:2px;border-radius:4px}";

  var keyMap = {};
  var groups = []; // [{title, rows}]
  var overlay = null;
  var returnFocus = null;

  function typingIn(target) {
    if (!target || target.nodeType !== 1) {
      return false;
    }
    if (target.isContentEditable) {
      return true;
    }
    var tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") {
      return true;
    }
    if (tag === "INPUT") {
      return NOT_TYPING.indexOf((target.getAttribute("type") || "text").toLowerCase()) === -1;
    }
    return false;
  }

  function fillTable(table, group) {
    table.textContent = "";
    if (group.title) {
      var caption = document.createElement("caption");
      caption.textContent = group.title;
      table.appendChild(caption);
    }
    var body = document.createElement("tbody");
    group.rows.forEach(function (row) {
      var tr = document.createElement("tr");
      var th = document.createElement("th");
      th.setAttribute("scope", "row");
      String(row[0])
        .split(" ")
        .forEach(function (key, i) {
          if (i > 0) {
            th.appendChild(document.createTextNode(" "));
          }
          var kbd = document.createElement("kbd");
          kbd.textContent = key;
          th.appendChild(kbd);
        });
      var td = document.createElement("td");
      td.textContent = row[1];
      tr.appendChild(th);
      tr.appendChild(td);
      body.appendChild(tr);
    });
    table.appendChild(body);
  }

  function build() {
    if (!document.getElementById("sc-shortcuts-style")) {
      var style = document.createElement("style");
      style.id = "sc-shortcuts-style";
      style.textContent = STYLE;
      document.head.appendChild(style);
    }
    overlay = document.createElement("div");
    overlay.className = "sc-shortcuts";
    overlay.id = "sc-shortcuts";
    overlay.hidden = true;
    var box = document.createElement("div");
    box.className = "sc-shortcuts__box";
    box.setAttribute("role", "dialog");
    box.setAttribute("aria-modal", "true");
    box.setAttribute("aria-labelledby", "sc-shortcuts-title");
    var head = document.createElement("div");
    head.className = "sc-shortcuts__head";
    var title = document.createElement("h2");
    title.id = "sc-shortcuts-title";
    title.textContent = "Keyboard shortcuts";
    var close = document.createElement("button");
    close.type = "button";
    close.className = "button sc-shortcuts__close";
    close.textContent = "Close";
    close.setAttribute("aria-label", "Close the keyboard shortcuts");
    close.addEventListener("click", hide);
    head.appendChild(title);
    head.appendChild(close);
    box.appendChild(head);
    box.appendChild(document.createElement("div")).className = "sc-shortcuts__tables";
    overlay.appendChild(box);
    overlay.addEventListener("click", function (event) {
      if (event.target === overlay) {
        hide();
      }
    });
    document.body.appendChild(overlay);
  }

  function render() {
    var holder = overlay.querySelector(".sc-shortcuts__tables");
    holder.textContent = "";
    groups
      .concat([{ title: "Everywhere", rows: [["?", "Show or hide this help"], ["Esc", "Close it"]] }])
      .forEach(function (group) {
        var table = document.createElement("table");
        fillTable(table, group);
        holder.appendChild(table);
      });
  }

  function isOpen() {
    return Boolean(overlay && !overlay.hidden);
  }

  function show() {
    if (!overlay) {
      build();
    }
    render();
    returnFocus = document.activeElement;
    overlay.hidden = false;
    overlay.querySelector(".sc-shortcuts__close").focus();
  }

  function hide() {
    if (!isOpen()) {
      return;
    }
    overlay.hidden = true;
    if (returnFocus && typeof returnFocus.focus === "function" && document.contains(returnFocus)) {
      returnFocus.focus();
    }
    returnFocus = null;
  }

  function onKey(event) {
    if (event.defaultPrevented || event.isComposing || event.ctrlKey || event.altKey || event.metaKey) {
      return;
    }
    if (isOpen()) {
      if (event.key === "Escape" || event.key === "?") {
        event.preventDefault();
        hide();
      } else if (event.key === "Tab") {
        event.preventDefault(); // one control inside: keep the focus in the dialog
        overlay.querySelector(".sc-shortcuts__close").focus();
      }
      return;
    }
    if (typingIn(event.target)) {
      return;
    }
    if (event.key === "?") {
      event.preventDefault();
      show();
      return;
    }
    var handler = Object.prototype.hasOwnProperty.call(keyMap, event.key) ? keyMap[event.key] : null;
    if (handler && handler(event) !== false) {
      event.preventDefault();
    }
  }

  /* keys: {key: handler(event)}; help: [[keys, what], ...] ("j", "Next case"); options.title
     names the group of lines in the help (e.g. "Inbox", "Case page"). */
  function register(keys, help, options) {
    Object.keys(keys || {}).forEach(function (key) {
      keyMap[key] = keys[key];
    });
    if (help && help.length) {
      groups.push({ title: (options && options.title) || "", rows: help.slice() });
    }
    if (isOpen()) {
      render();
    }
  }

  document.addEventListener("keydown", onKey);
  window.socialcareShortcuts = { register: register, show: show, hide: hide, isOpen: isOpen };
})();
