// Inside the payment form's frame: tell the page that embeds it how tall the form is and how
// the payment ended. Messages go only to the parent origin the server confirmed is allowed.
(function () {
  "use strict";
  var card = document.querySelector("[data-kassa-frame]");
  if (!card) return;
  var parentOrigin = card.getAttribute("data-parent-origin");
  var framed = window.parent !== window;
  function post(message) {
    if (framed && parentOrigin) window.parent.postMessage(message, parentOrigin);
  }
  // The content's own height (the document's scrollHeight never drops below the frame's, so a
  // shorter result page would keep the form's height).
  function resize() {
    var style = window.getComputedStyle(document.body);
    var height = document.body.getBoundingClientRect().height + parseFloat(style.marginTop) + parseFloat(style.marginBottom);
    post({ type: "kassa:resize", height: Math.ceil(height) });
  }
  resize();
  if (window.ResizeObserver) new ResizeObserver(resize).observe(document.body);
  var outcome = card.getAttribute("data-outcome");
  if (outcome === "success" || outcome === "failure") {
    var redirect = card.getAttribute("data-redirect") || "";
    post({ type: "kassa:" + outcome, payment: card.getAttribute("data-payment"), redirect: redirect });
    // Opened as a plain page: follow the business's redirect ourselves.
    if (!framed && outcome === "success" && redirect) {
      setTimeout(function () { window.location.assign(redirect); }, 1500);
    }
  }
})();
