// Tollgate console: small progressive enhancements. Every flow works without this file.
(function () {
  "use strict";

  var root = document.documentElement;
  root.classList.add("js");

  // One polite live region, so screen readers hear "Copied".
  var live = null;
  function announce(text) {
    if (!live) {
      live = document.createElement("span");
      live.className = "sr-only";
      live.setAttribute("aria-live", "polite");
      document.body.appendChild(live);
    }
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 30);
  }

  // ---- (1) Copy to clipboard: [data-copy="element-id"] or [data-copy-text="literal"] ----
  function legacyCopy(text) {
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.top = "-1000px";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    document.body.removeChild(area);
    return ok;
  }

  function copyText(text) {
    // The async Clipboard API needs a secure context; self-hosted consoles often run on plain HTTP.
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () {
        if (!legacyCopy(text)) throw new Error("copy failed");
      });
    }
    return new Promise(function (resolve, reject) {
      if (legacyCopy(text)) resolve(); else reject(new Error("copy failed"));
    });
  }

  function selectContents(el) {
    if (!el) return;
    if (typeof el.select === "function") { el.select(); return; }
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  function flashLabel(button, text) {
    if (!button.hasAttribute("data-copy-label")) {
      button.setAttribute("data-copy-label", button.textContent);
    }
    button.textContent = text;
    button.classList.add("is-copied");
    window.clearTimeout(button._copyTimer);
    button._copyTimer = window.setTimeout(function () {
      button.textContent = button.getAttribute("data-copy-label");
      button.classList.remove("is-copied");
    }, 1600);
  }

  function onCopy(button) {
    var target = null;
    var text = button.getAttribute("data-copy-text");
    if (text === null) {
      target = document.getElementById(button.getAttribute("data-copy"));
      if (!target) return;
      text = "value" in target && typeof target.value === "string" ? target.value : target.textContent;
      text = text.trim();
    }
    copyText(text).then(function () {
      flashLabel(button, "Copied");
      announce("Copied to clipboard");
    }, function () {
      // Could not write the clipboard: select the text so the user can copy it by hand.
      selectContents(target);
      flashLabel(button, /Mac|iPhone|iPad/.test(navigator.platform || "") ? "Press \u2318C" : "Press Ctrl+C");
    });
  }

  // ---- (2) Dialogs: [data-dialog-open="ID"] opens <dialog id="ID">; [data-dialog-close] closes ----
  function openDialog(dialog) {
    if (typeof dialog.showModal === "function") {
      if (!dialog.open) dialog.showModal();
    } else {
      dialog.setAttribute("open", "");
    }
    var first = dialog.querySelector("[autofocus]");
    if (first) first.focus();
  }

  function closeDialog(dialog) {
    if (typeof dialog.close === "function") dialog.close();
    else dialog.removeAttribute("open");
  }

  // A dialog the server drew open (a form's error, a charge to confirm) and a dialog named by the
  // URL's #fragment (links like /billing/payg#add-credits-dialog) open as modal dialogs.
  function openDialogsOnLoad() {
    var drawn = document.querySelectorAll("dialog[open]");
    for (var i = 0; i < drawn.length; i++) {
      if (typeof drawn[i].showModal === "function") {
        drawn[i].close();
        openDialog(drawn[i]);
      }
    }
    var named = window.location.hash ? document.getElementById(window.location.hash.slice(1)) : null;
    if (named && named.tagName === "DIALOG" && !named.open) openDialog(named);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", openDialogsOnLoad);
  } else {
    openDialogsOnLoad();
  }

  // ---- Dropdown menus (<details class="menu">): one open at a time, close outside / on Escape ----
  function closeMenus(except) {
    var open = document.querySelectorAll("details.menu[open]");
    for (var i = 0; i < open.length; i++) {
      if (open[i] !== except) open[i].removeAttribute("open");
    }
  }

  document.addEventListener("click", function (event) {
    var el = event.target;
    if (!(el instanceof Element)) return;

    var copyButton = el.closest("[data-copy], [data-copy-text]");
    if (copyButton) {
      event.preventDefault();
      onCopy(copyButton);
      return;
    }

    var opener = el.closest("[data-dialog-open]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-dialog-open"));
      if (dialog && dialog.tagName === "DIALOG") {
        // An opener may be a link to a no-JS fallback page; with JS we open the dialog instead.
        event.preventDefault();
        openDialog(dialog);
      }
      return;
    }

    // A print button ([data-print]): the browser's own dialog prints or saves as PDF.
    if (el.closest("[data-print]")) {
      event.preventDefault();
      window.print();
      return;
    }

    var closer = el.closest("[data-dialog-close]");
    if (closer) {
      var enclosing = closer.closest("dialog");
      if (enclosing) {
        event.preventDefault();
        closeDialog(enclosing);
      }
      return;
    }

    // A click on the backdrop of a modal dialog (the <dialog> itself, outside its box) closes it.
    if (el.tagName === "DIALOG" && el.open) {
      var r = el.getBoundingClientRect();
      var inside = event.clientX >= r.left && event.clientX <= r.right &&
                   event.clientY >= r.top && event.clientY <= r.bottom;
      if (!inside && event.clientX !== 0 && event.clientY !== 0) closeDialog(el);
    }

    // Close dropdown menus when clicking elsewhere.
    closeMenus(el.closest("details.menu"));
  });

  document.addEventListener("toggle", function (event) {
    var d = event.target;
    if (d instanceof HTMLDetailsElement && d.classList.contains("menu") && d.open) closeMenus(d);
  }, true);

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var menu = document.querySelector("details.menu[open]");
    if (menu) {
      menu.removeAttribute("open");
      var summary = menu.querySelector("summary");
      if (summary) summary.focus();
    }
  });

  // ---- (4) The console's own origin where the server knows no public URL: [data-origin] ----
  Array.prototype.forEach.call(document.querySelectorAll("[data-origin]"), function (el) {
    el.textContent = window.location.origin;
  });

  // ---- (3) Confirmation: <form data-confirm="…"> (or a submit button with data-confirm) ----
  // Asked in the console's own <dialog> (never the browser's confirm()): Cancel, or the
  // action's button, which submits the form as it was.
  var confirmDialog = null;
  var pending = null;
  function confirmationDialog() {
    if (confirmDialog) return confirmDialog;
    confirmDialog = document.createElement("dialog");
    confirmDialog.id = "confirm-dialog";
    confirmDialog.setAttribute("aria-labelledby", "confirm-dialog-title");
    confirmDialog.innerHTML =
      '<div class="dialog-body"><h2 id="confirm-dialog-title">Are you sure?</h2>' +
      '<p id="confirm-dialog-message"></p></div>' +
      '<div class="dialog-footer">' +
      '<button type="button" class="btn btn-secondary" data-dialog-close autofocus>Cancel</button>' +
      '<button type="button" class="btn btn-danger" id="confirm-dialog-ok">Confirm</button></div>';
    document.body.appendChild(confirmDialog);
    confirmDialog.querySelector("#confirm-dialog-ok").addEventListener("click", function () {
      var go = pending;
      pending = null;
      closeDialog(confirmDialog);
      if (go) {
        go.form.setAttribute("data-confirmed", "");
        if (typeof go.form.requestSubmit === "function") go.form.requestSubmit(go.submitter || undefined);
        else go.form.submit();
      }
    });
    return confirmDialog;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    if (form.hasAttribute("data-confirmed")) {
      form.removeAttribute("data-confirmed");
      return;
    }
    var submitter = event.submitter;
    var message = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (!message) return;
    event.preventDefault();
    var dialog = confirmationDialog();
    dialog.querySelector("#confirm-dialog-message").textContent = message;
    var label = submitter && submitter.textContent.trim();
    dialog.querySelector("#confirm-dialog-ok").textContent = label || "Confirm";
    pending = { form: form, submitter: submitter || null };
    openDialog(dialog);
  });
})();
