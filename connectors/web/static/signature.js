// A signature drawn on the page (the consent forms: templates/_macros.html consent_fields).
// Strokes on the canvas (finger, pen or mouse) become a PNG put into the form's file field, as
// if the signed form had been uploaded, when the form is sent and no file was chosen. The server
// stores it like any upload, under its SHA-256. No library, no network; without script the
// file field alone still works.
"use strict";
(function () {
  document.querySelectorAll("canvas.signature").forEach(function (pad) {
    var form = pad.closest("form");
    var input = form.querySelector("input[type=file][name='" + pad.dataset.into + "']");
    var clear = document.getElementById(pad.id + "-clear");
    var ink = pad.getContext("2d");
    var drawing = false;
    var drawn = false;

    function blank() {
      ink.fillStyle = "#fff";
      ink.fillRect(0, 0, pad.width, pad.height);
      ink.lineWidth = 3;
      ink.lineCap = "round";
      ink.lineJoin = "round";
      ink.strokeStyle = "#111";
      drawn = false;
      pad.dataset.drawn = "no";
    }
    function at(event) {
      var box = pad.getBoundingClientRect();
      return [(event.clientX - box.left) * pad.width / box.width, (event.clientY - box.top) * pad.height / box.height];
    }
    blank();
    if (clear) {
      clear.hidden = false;
      clear.addEventListener("click", blank);
    }
    pad.addEventListener("pointerdown", function (event) {
      event.preventDefault();
      drawing = true;
      pad.setPointerCapture(event.pointerId);
      var p = at(event);
      ink.beginPath();
      ink.moveTo(p[0], p[1]);
    });
    pad.addEventListener("pointermove", function (event) {
      if (!drawing) return;
      var p = at(event);
      ink.lineTo(p[0], p[1]);
      ink.stroke();
      drawn = true;
      pad.dataset.drawn = "yes";
    });
    ["pointerup", "pointercancel"].forEach(function (name) {
      pad.addEventListener(name, function () { drawing = false; });
    });
    form.addEventListener("submit", function (event) {
      if (!drawn || !input || input.files.length) return;
      event.preventDefault();
      pad.toBlob(function (png) {
        var files = new DataTransfer();
        files.items.add(new File([png], "signature.png", {type: "image/png"}));
        input.files = files.files;
        form.submit();
      }, "image/png");
    });
  });
})();
