// The "More" menu of the navigation is a <details>: it opens and closes without this script.
// With it, the menu also closes as a menu should: on Escape (focus back on "More"), on a tap or
// a click outside it, and when focus leaves it.
(function () {
  "use strict";
  var more = document.querySelector(".site-nav details.more");
  if (!more) return;
  var summary = more.querySelector("summary");
  function close(focus) {
    if (!more.open) return;
    more.open = false;
    if (focus && summary) summary.focus();
  }
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && more.open) close(more.contains(document.activeElement));
  });
  document.addEventListener("click", function (e) {
    if (!more.contains(e.target)) close(false);
  });
  more.addEventListener("focusout", function (e) {
    if (e.relatedTarget && !more.contains(e.relatedTarget)) close(false);
  });
})();
