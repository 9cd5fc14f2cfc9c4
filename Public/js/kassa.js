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
  // Move focus to the error summary so screen readers announce it.
  var summary = document.querySelector(".form-errors");
  if (summary) {
    summary.setAttribute("tabindex", "-1");
    summary.focus();
  }
})();
