// Small progressive enhancements. Pages work without this file.
(function () {
  "use strict";
  // Close the account menu when clicking elsewhere or pressing Escape.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.account-menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.account-menu[open]").forEach(function (menu) {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    });
  });
  // Payment methods: show only the chosen issuer's currencies.
  document.querySelectorAll("[data-issuer-select]").forEach(function (select) {
    var form = select.form;
    function sync() {
      form.querySelectorAll("fieldset[data-issuer]").forEach(function (set) {
        var shown = set.getAttribute("data-issuer") === select.value;
        set.hidden = !shown;
        set.disabled = !shown;
      });
    }
    select.addEventListener("change", sync);
    sync();
  });
  // Pay buttons: one click only (the server also answers a repeated submit with the first outcome).
  document.querySelectorAll("form button[data-once]").forEach(function (button) {
    button.form.addEventListener("submit", function (event) {
      if (button.form.dataset.sent) { event.preventDefault(); return; }
      button.form.dataset.sent = "1";
      button.setAttribute("aria-disabled", "true");
      button.classList.add("is-busy");
      button.textContent = "Processing…";
    });
  });
  // The card number as it is typed: grouped in fours (American Express 4-6-5), its network shown
  // among the accepted ones, and its check digit tried when the field is left. The server checks
  // everything again; without JavaScript the form works the same.
  document.querySelectorAll("input[name=card_number]").forEach(function (input) {
    var brands = document.getElementById("card_number-brands");
    var status = document.createElement("span");
    status.className = "visually-hidden";
    status.setAttribute("role", "status");
    input.parentNode.appendChild(status);
    var note = document.createElement("p");
    note.className = "hint card-check";
    note.hidden = true;
    input.parentNode.appendChild(note);
    function network(digits) {
      if (/^4/.test(digits)) return "visa";
      if (/^(5[1-5]|222[1-9]|22[3-9]|2[3-6]|27[01]|2720)/.test(digits)) return "mastercard";
      if (/^3[47]/.test(digits)) return "amex";
      if (/^(6011|65|64[4-9])/.test(digits)) return "discover";
      if (/^35/.test(digits)) return "jcb";
      if (/^62/.test(digits)) return "unionpay";
      return "";
    }
    function luhn(digits) {
      var sum = 0;
      for (var i = 0; i < digits.length; i++) {
        var d = +digits[digits.length - 1 - i];
        if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
        sum += d;
      }
      return sum % 10 === 0;
    }
    function grouped(digits, kind) {
      var sizes = kind === "amex" ? [4, 6, 5] : [4, 4, 4, 4, 3];
      var parts = [], at = 0;
      for (var i = 0; i < sizes.length && at < digits.length; i++) { parts.push(digits.slice(at, at + sizes[i])); at += sizes[i]; }
      return parts.join(" ");
    }
    var shown = "";
    input.addEventListener("input", function () {
      var digits = input.value.replace(/\D/g, "").slice(0, 19);
      var kind = network(digits);
      var atEnd = input.selectionStart === input.value.length;
      if (atEnd && /^[\d ]*$/.test(input.value)) input.value = grouped(digits, kind);
      if (brands) {
        brands.querySelectorAll(".network-badge").forEach(function (badge) {
          badge.classList.toggle("is-detected", kind !== "" && badge.classList.contains("network-" + kind));
          badge.classList.toggle("is-dimmed", kind !== "" && !badge.classList.contains("network-" + kind));
        });
      }
      if (kind !== shown) {
        shown = kind;
        var badge = brands && brands.querySelector(".network-" + kind);
        status.textContent = kind ? (badge ? badge.textContent : "This card type") + " card" + (badge ? "" : ", not accepted here") : "";
      }
      note.hidden = true;
    });
    input.addEventListener("blur", function () {
      var digits = input.value.replace(/\D/g, "");
      if (digits.length >= 13 && !luhn(digits)) {
        note.textContent = "This number does not look right. Check it for typos.";
        note.hidden = false;
      }
    });
  });

  // The form editor: a colour picker beside the hex field, and the pay button as payers will see it.
  document.querySelectorAll("input[data-color-for]").forEach(function (picker) {
    var field = document.getElementById(picker.getAttribute("data-color-for"));
    var label = document.getElementById("button_label");
    var preview = document.querySelector("[data-preview-button]");
    var row = document.querySelector("[data-preview-row]");
    if (!field) return;
    picker.hidden = false;
    if (row) row.hidden = false;
    var hex = /^#[0-9a-fA-F]{6}$/;
    function show() {
      if (hex.test(field.value)) { picker.value = field.value.toLowerCase(); if (preview) preview.style.backgroundColor = field.value; }
      if (preview && label) preview.textContent = label.value || "Pay";
    }
    picker.addEventListener("input", function () { field.value = picker.value; show(); });
    field.addEventListener("input", show);
    if (label) label.addEventListener("input", show);
    show();
  });

  // "Print / save as PDF" on receipts: shown only where the browser can print.
  document.querySelectorAll("[data-print]").forEach(function (button) {
    if (!window.print) return;
    var row = button.closest("[data-print-row]");
    if (row) row.hidden = false;
    button.addEventListener("click", function () { window.print(); });
  });
  // Copy buttons.
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var target = document.getElementById(button.getAttribute("data-copy"));
      if (!target || !navigator.clipboard) return;
      navigator.clipboard.writeText(target.value || target.textContent).then(function () {
        var label = button.textContent;
        button.textContent = "Copied";
        // Said to screen readers too: one polite status line next to the button.
        var status = button.parentNode.querySelector("[data-copy-status]");
        if (!status) {
          status = document.createElement("span");
          status.className = "visually-hidden";
          status.setAttribute("role", "status");
          status.setAttribute("data-copy-status", "");
          button.parentNode.appendChild(status);
        }
        status.textContent = "";
        setTimeout(function () { status.textContent = "Copied to the clipboard"; }, 50);
        setTimeout(function () { button.textContent = label; }, 1500);
      });
    });
  });
  // Live pages: reload when a payment changes (Server-Sent Events), unless someone is typing.
  if (window.EventSource && document.body.classList.contains("live")) {
    var pending = null;
    new EventSource("/events/stream").addEventListener("change", function () {
      if (pending) return;
      pending = setTimeout(function () {
        var active = document.activeElement;
        if (active && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)) { pending = null; return; }
        window.location.reload();
      }, 400);
    });
  }
  // A receipt still processing: reload as soon as the outcome is in.
  var receipt = document.querySelector("[data-live-receipt]");
  if (window.EventSource && receipt) {
    var source = new EventSource(receipt.getAttribute("data-live-receipt"));
    source.addEventListener("status", function (event) {
      if (event.data !== "processing") { source.close(); window.location.reload(); }
    });
  }
  // Move focus to the error summary so screen readers announce it.
  var summary = document.querySelector(".form-errors");
  if (summary) {
    summary.setAttribute("tabindex", "-1");
    summary.focus();
  }
})();
