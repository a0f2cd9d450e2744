/* The words the scripts show, in the page's language: KapT("key", "English {n}", { n: 3 }) reads
   the page's #kap-strings (kap/templates/includes/js_strings.html, empty on an English page) and
   falls back to the script's own English; each "{name}" is filled in from `values`. Loaded first
   by base.html, so every script may use it. */
window.KapT = (() => {
  "use strict";
  let strings = null;
  return (key, english, values = {}) => {
    if (strings === null) {
      try { strings = JSON.parse(document.getElementById("kap-strings").textContent) || {}; } catch (e) { strings = {}; }
    }
    const text = typeof strings[key] === "string" ? strings[key] : english;
    return text.replace(/\{(\w+)\}/g, (all, name) => (Object.hasOwn(values, name) ? String(values[name]) : all));
  };
})();
