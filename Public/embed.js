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
    script.parentNode.insertBefore(container, script);
    var origin = window.location.origin;
    // Ask first whether this site may show the form: if not, the site's owner reads why (the
    // browser would only show a grey box and say why in its console). If Kassa cannot be asked,
    // the frame is made anyway.
    var check = base + "/embed/forms/" + encodeURIComponent(id) + "/origin?origin=" + encodeURIComponent(origin);
    if (!window.fetch) { Kassa.frame(container, base, id); return; }
    fetch(check, { credentials: "omit" })
      .then(function (response) { return response.ok ? response.json() : { status: "allowed" }; })
      .catch(function () { return { status: "allowed" }; })
      .then(function (answer) {
        if (answer.status === "allowed") Kassa.frame(container, base, id);
        else Kassa.explain(container, answer.status, answer.origin || origin, id);
      });
  };

  /** A readable box for the site's owner instead of the form. */
  Kassa.explain = function (container, status, origin, id) {
    var box = document.createElement("div");
    box.setAttribute("role", "alert");
    box.style.cssText = "border:1px solid #e0b4b0;background:#fdf3f2;color:#5c1a14;border-radius:8px;padding:16px;" +
      "font:15px/1.5 system-ui,sans-serif;max-width:560px;";
    var title = document.createElement("strong");
    var text = document.createElement("p");
    var hint = document.createElement("p");
    text.style.margin = "8px 0 0";
    hint.style.cssText = "margin:8px 0 0;font-size:13px;color:#7a3d36;";
    if (status === "not_allowed") {
      title.textContent = "This payment form is not allowed on " + origin;
      text.textContent = "To show it here, add " + origin + " to the form's allowed sites in Kassa (Forms, then the form " + id + ", then Edit).";
      hint.textContent = "Each address counts as its own site: http://localhost and http://127.0.0.1 are different, and so are www.example.com and example.com.";
    } else if (status === "closed") {
      title.textContent = "This payment form is closed";
      text.textContent = "It no longer takes payments. Its owner can reopen it, or put another form here.";
    } else {
      title.textContent = "This payment form does not exist";
      text.textContent = "Check the data-kassa-form attribute of the script tag: " + id + " is not a form of this Kassa.";
    }
    box.appendChild(title);
    box.appendChild(text);
    if (hint.textContent) box.appendChild(hint);
    container.appendChild(box);
  };

  Kassa.frame = function (container, base, id) {
    var frame = document.createElement("iframe");
    frame.src = base + "/embed/forms/" + encodeURIComponent(id) + "?origin=" + encodeURIComponent(window.location.origin);
    frame.title = "Payment form";
    frame.setAttribute("allow", "payment");
    frame.style.cssText = "display:block;width:100%;min-height:480px;border:0;";
    container.appendChild(frame);

    window.addEventListener("message", function (event) {
      // Only the frame we made, from Kassa's origin.
      if (event.origin !== base || event.source !== frame.contentWindow) return;
      var data = event.data || {};
      if (data.type === "kassa:resize" && typeof data.height === "number") {
        // The frame follows its page both ways (after paying, the result is shorter than the form).
        frame.style.minHeight = "0";
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
