/* Practice logs wait in localStorage until the server has acknowledged them, so a practice done
   offline is never lost. Each log has its own uuid: sending one twice stores it once. */
(() => {
  "use strict";
  const T = window.KapT; // the words in the page's language (kap/static/kap/strings.js)
  const cfgEl = document.getElementById("practice-spec") || document.getElementById("practice-outbox");
  if (!cfgEl) return;
  const cfg = JSON.parse(cfgEl.textContent);
  const KEY = cfg.outbox;
  const held = new Set(); // logs this page is still finishing (waiting for the "after" rating)
  const listeners = [];
  let busy = null;

  const read = () => {
    try { return JSON.parse(localStorage.getItem(KEY)) || []; } catch (e) { return []; }
  };
  const write = (list) => {
    try {
      if (list.length) localStorage.setItem(KEY, JSON.stringify(list));
      else localStorage.removeItem(KEY);
    } catch (e) { /* storage full or disabled: the send below still goes */ }
  };
  const keep = (rec) => write(read().filter((r) => r.uuid !== rec.uuid).concat([rec]));
  const drop = (id) => write(read().filter((r) => r.uuid !== id));
  const has = (id) => read().some((r) => r.uuid === id);
  const token = () => {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  };

  async function send(rec) {
    try {
      const res = await fetch(cfg.logUrl, {
        method: "POST",
        credentials: "same-origin",
        redirect: "error", // a redirect means logged out: keep the log for later
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": token() },
        body: JSON.stringify(rec),
      });
      const body = await res.json().catch(() => ({}));
      if (res.ok && body.uuid === rec.uuid) { drop(rec.uuid); return { saved: true }; }
      // The server refused the log itself: sending it again would never succeed.
      if (res.status === 400) { drop(rec.uuid); return { refused: body.error || T("refused", "It was refused.") }; }
    } catch (e) { /* offline, or the server is away */ }
    return { kept: true };
  }

  async function sendAll() {
    let saved = 0;
    for (const rec of read()) {
      if (!held.has(rec.uuid) && (await send(rec)).saved) saved += 1;
    }
    if (saved) listeners.forEach((fn) => fn(saved));
    return saved;
  }
  function flush() {
    busy = busy || sendAll().finally(() => { busy = null; });
    return busy;
  }

  window.KapOutbox = {
    keep, send, flush, has,
    hold: (id) => held.add(id),
    release: (id) => held.delete(id),
    onFlush: (fn) => listeners.push(fn),
  };

  const note = document.getElementById("outbox-status");
  if (note) {
    KapOutbox.onFlush((n) => {
      note.textContent = n === 1
        ? T("practice_kept_saved_one", "A practice kept on this device is now saved. Reload the page to see it.")
        : T("practice_kept_saved_many", "{n} practices kept on this device are now saved. Reload the page to see them.", { n });
    });
  }
  addEventListener("online", flush);
  // Deferred scripts all run before DOMContentLoaded, so the page's listeners are in place.
  document.addEventListener("DOMContentLoaded", flush);
})();
