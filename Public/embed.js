/*! Kassa payment form embed. <script src="https://kassa.example/embed.js" data-kassa-form="form_..."></script> */
(function () {
  "use strict";
  var Kassa = (window.Kassa = window.Kassa || {});
  if (Kassa.mount) { Kassa.scan(); return; }

  Kassa.mount = function (script) {
    if (script.getAttribute("data-kassa-mounted")) return;
    script.setAttribute("data-kassa-mounted", "1");
    var id = script.getAttribute("data-kassa-form");
    var base = new URL(script.src, window.location.href).origin;
    var container = document.createElement("div");
    container.className = "kassa-form";
    var frame = document.createElement("iframe");
    frame.src = base + "/embed/forms/" + encodeURIComponent(id) + "?origin=" + encodeURIComponent(window.location.origin);
    frame.title = "Payment form";
    frame.setAttribute("allow", "payment");
    frame.style.cssText = "display:block;width:100%;min-height:480px;border:0;";
    container.appendChild(frame);
    script.parentNode.insertBefore(container, script);

    window.addEventListener("message", function (event) {
      // Only the frame we made, from Kassa's origin.
      if (event.origin !== base || event.source !== frame.contentWindow) return;
      var data = event.data || {};
      if (data.type === "kassa:resize" && typeof data.height === "number") {
        frame.style.height = Math.ceil(data.height) + "px";
      } else if (data.type === "kassa:success" || data.type === "kassa:failure") {
        var proceed = container.dispatchEvent(
          new CustomEvent(data.type, { bubbles: true, cancelable: true, detail: { payment: data.payment, form: id } })
        );
        // The redirect is the one the business configured; the page may cancel it.
        if (proceed && data.type === "kassa:success" && data.redirect) window.location.assign(data.redirect);
      }
    });
  };

  Kassa.scan = function () {
    var scripts = document.querySelectorAll("script[data-kassa-form]");
    for (var i = 0; i < scripts.length; i++) Kassa.mount(scripts[i]);
  };
  Kassa.scan();
})();
