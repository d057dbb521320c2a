// riskengine UI glue (no inline scripts, so the CSP can forbid them).
// The record detail opens in a native <dialog>: modal, so focus stays inside and Esc closes it.
(function () {
  "use strict";
  var opener = null;

  function modal() { return document.getElementById("modal"); }

  function openModal() {
    var dialog = modal();
    if (!dialog) return;
    var content = document.getElementById("modal-content");
    var detail = content && content.querySelector("[data-title]");
    var title = document.getElementById("modal-title");
    if (detail && title) title.textContent = detail.getAttribute("data-title");
    if (!dialog.open) dialog.showModal();
    var first = dialog.querySelector("button, [href], select, input");
    if (first) first.focus();
  }

  document.addEventListener("click", function (event) {
    var trigger = event.target.closest("[data-open-modal]");
    if (trigger) opener = trigger;
    if (event.target.closest("[data-close-modal]")) modal().close();
    if (event.target.closest("[data-print]")) window.print();
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "modal-content") openModal();
  });

  document.addEventListener("close", function (event) {
    if (event.target === modal() && opener) { opener.focus(); opener = null; }
  }, true);

  // Keep Tab inside the open dialog (showModal already makes the page behind it inert).
  document.addEventListener("keydown", function (event) {
    var dialog = modal();
    if (!dialog || !dialog.open || event.key !== "Tab") return;
    var focusable = dialog.querySelectorAll("button, [href], select, input, textarea, [tabindex]:not([tabindex='-1'])");
    if (!focusable.length) return;
    var first = focusable[0], last = focusable[focusable.length - 1];
    if (event.shiftKey && document.activeElement === first) { last.focus(); event.preventDefault(); }
    else if (!event.shiftKey && document.activeElement === last) { first.focus(); event.preventDefault(); }
  });
})();
