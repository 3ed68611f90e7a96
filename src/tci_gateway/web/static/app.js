// tci-gateway workspace: small progressive enhancements; every page works without them.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // <form data-confirm="Cancel the cover?">: ask before submitting.
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
  // <section data-refresh="5">: reload the page every N seconds while it is shown
  // (a cover request waiting for the insurer's decision).
  const refreshing = document.querySelector("[data-refresh]");
  if (refreshing) {
    const seconds = Math.max(2, parseInt(refreshing.dataset.refresh, 10) || 5);
    window.setTimeout(() => window.location.reload(), seconds * 1000);
  }
});
