/* A "Copy" button beside a read-only field (an invitation's link and code, a calendar address).
   Without JavaScript, or where the browser keeps the clipboard from pages (plain http on another
   machine), the button stays hidden and the field is text to select and copy by hand. */
(() => {
  "use strict";
  const T = window.KapT; // the words in the page's language (kap/static/kap/strings.js)
  for (const button of document.querySelectorAll("button[data-copy]:not([data-ready])")) {
    const field = document.getElementById(button.dataset.copy);
    const status = document.getElementById(button.dataset.copy + "-status");
    if (!field || !status || !(navigator.clipboard && window.isSecureContext)) continue;
    button.dataset.ready = "";
    button.hidden = false;
    let clear = 0;
    button.addEventListener("click", async () => {
      clearTimeout(clear);
      status.textContent = "";
      try {
        await navigator.clipboard.writeText(field.value);
        status.textContent = T("copied", "Copied");
      } catch (e) {
        field.focus();
        field.select();
        status.textContent = T("not_copied", "Not copied: it is selected, so you can copy it yourself.");
      }
      clear = setTimeout(() => { status.textContent = ""; }, 6000);
    });
  }
  // A tap or Tab into the field selects all of it, ready to copy by hand.
  for (const field of document.querySelectorAll("input[data-copy-field]")) {
    field.addEventListener("focus", () => field.select());
  }
})();
