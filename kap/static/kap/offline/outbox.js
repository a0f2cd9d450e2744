/* What a person writes with no network waits on this device until the server has it.

   A form marked data-offline-outbox="<id>" (an insight, kap/templates/journal/records/
   session_detail.html) is sent by this script: first kept here, then sent; if the network fails,
   or the login has expired, it stays here, is listed under "Waiting to send", and is sent again
   when the network is back or a page is opened. The same rules as a draft (drafts.js):
   - once: each entry has its own token, and the server stores one record per token, however
     often it is sent (two tabs, a retry after a lost answer);
   - by its writer only: entries are kept per person, sent only from that person's pages, and
     the server refuses one whose person is not the one logged in (409), which then stays here;
   - never dropped silently: one the server refuses (400) stays, with the reason, until the
     person removes it.

   At rest: IndexedDB, each entry encrypted with AES-GCM (WebCrypto) under a key made on this
   device for this person, created non-extractable (no script can read its bytes) and bound to
   the person and the entry (additional data). That keeps the words out of plain text in the
   browser's files and out of reach of anything that copies the store without the key. It does
   not protect against someone who can run code on this site in this browser, or who copies the
   whole browser profile: the browser holds the key next to the data. Logging out deletes both
   (Clear-Site-Data, kap.offline.middleware). */
(() => {
  "use strict";
  const T = window.KapT; // the words in the page's language (kap/static/kap/strings.js)
  if (window.KapOffline) return;
  const me = document.currentScript;
  const person = me && me.dataset.person;
  if (!person || !window.indexedDB || !window.crypto || !crypto.subtle) return;

  // --- Storage -------------------------------------------------------------------------------------
  let opened = null;
  function db() {
    opened = opened || new Promise((resolve, reject) => {
      const req = indexedDB.open("kap-offline", 1);
      req.onupgradeneeded = () => {
        req.result.createObjectStore("keys", { keyPath: "person" });
        req.result.createObjectStore("outbox", { keyPath: "id" }).createIndex("person", "person");
      };
      req.onsuccess = () => {
        const d = req.result;
        // Cleared at a logout (Clear-Site-Data) or by another tab: let go, open again if needed.
        d.onversionchange = () => { d.close(); opened = null; };
        d.onclose = () => { opened = null; };
        resolve(d);
      };
      req.onerror = () => { opened = null; reject(req.error); };
    });
    return opened;
  }
  async function run(store, mode, fn) {
    const d = await db();
    return new Promise((resolve, reject) => {
      const t = d.transaction(store, mode);
      const req = fn(t.objectStore(store));
      t.oncomplete = () => resolve(req ? req.result : undefined);
      t.onerror = () => reject(t.error);
      t.onabort = () => reject(t.error);
    });
  }

  // --- Encryption ----------------------------------------------------------------------------------
  const encoder = new TextEncoder();
  const decoder = new TextDecoder();
  const bound = (id) => encoder.encode("kap-offline|" + person + "|" + id);
  async function key(make) {
    const found = await run("keys", "readonly", (s) => s.get(person));
    if (found || !make) return found ? found.key : null;
    const made = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
    try {
      await run("keys", "readwrite", (s) => s.add({ person, key: made }));
      return made;
    } catch (e) { // another tab made one first: use that one
      const again = await run("keys", "readonly", (s) => s.get(person));
      if (again) return again.key;
      throw e;
    }
  }
  async function seal(id, payload) {
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const data = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: bound(id) }, await key(true),
      encoder.encode(JSON.stringify(payload)));
    return { iv, data };
  }
  async function unseal(rec, k) {
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: rec.iv, additionalData: bound(rec.id) }, k, rec.data);
    return JSON.parse(decoder.decode(plain));
  }

  // --- The outbox ----------------------------------------------------------------------------------
  const listeners = [];
  const changed = (detail) => listeners.forEach((fn) => fn(detail || {}));

  // payload: { url, fields: { name: value } }. Resolves to the entry, with its token as id.
  async function keep(payload) {
    const id = crypto.randomUUID();
    const at = Date.now();
    const sealed = await seal(id, payload);
    await run("outbox", "readwrite", (s) => s.put({ id, person, at, iv: sealed.iv, data: sealed.data, refused: "" }));
    changed();
    return Object.assign({ id, at, refused: "" }, payload);
  }
  async function records() {
    return (await run("outbox", "readonly", (s) => s.index("person").getAll(person))) || [];
  }
  async function list() {
    const recs = await records();
    if (!recs.length) return [];
    const k = await key(false);
    if (!k) return [];
    const out = [];
    for (const rec of recs) {
      try {
        out.push(Object.assign({ id: rec.id, at: rec.at, refused: rec.refused || "" }, await unseal(rec, k)));
      } catch (e) { /* not readable with this key: left as it is */ }
    }
    return out.sort((a, b) => a.at - b.at);
  }
  async function count() {
    return run("outbox", "readonly", (s) => s.index("person").count(person));
  }
  async function drop(id) {
    await run("outbox", "readwrite", (s) => s.delete(id));
    changed();
  }
  async function refuse(id, reason) {
    await run("outbox", "readwrite", (s) => {
      const req = s.get(id);
      req.onsuccess = () => { if (req.result) s.put(Object.assign(req.result, { refused: reason })); };
      return req;
    });
    changed();
  }

  function csrf() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  // Resolves to { saved, url } | { refused } | { kept: why }; never rejects.
  async function send(entry, announce) {
    const body = new URLSearchParams(entry.fields);
    body.set("token", entry.id);
    body.set("person", person);
    if (announce) body.set("announce", "1");
    let res;
    try {
      res = await fetch(entry.url, {
        method: "POST",
        credentials: "same-origin",
        redirect: "error", // a redirect is the login page: keep it for later
        headers: { Accept: "application/json", "X-CSRFToken": csrf(), "X-Kap-Background": "1" },
        body,
      });
    } catch (e) {
      return { kept: navigator.onLine ? "no-answer" : "offline" };
    }
    const data = await res.json().catch(() => ({}));
    if (res.ok && data.status === "saved") {
      await drop(entry.id);
      return { saved: true, url: data.url };
    }
    if (res.status === 400) {
      const reason = data.message || T("refused", "It was refused.");
      await refuse(entry.id, reason);
      return { refused: reason };
    }
    if (res.status === 401) return { kept: "logged-out" };
    if (res.status === 409) return { kept: "other-person" };
    if (res.status === 403) return { kept: "stale-page" };
    return { kept: "no-answer" };
  }

  let busy = null;
  async function sendAll() {
    const saved = [];
    for (const entry of await list()) {
      if (!entry.refused && (await send(entry)).saved) saved.push(entry.id);
    }
    if (saved.length) changed({ saved });
    return saved.length;
  }
  function flush() {
    busy = busy || sendAll().catch(() => 0).finally(() => { busy = null; });
    return busy;
  }

  window.KapOffline = { keep, list, count, drop, send, flush, onChange: (fn) => listeners.push(fn) };

  // --- Forms ---------------------------------------------------------------------------------------
  const WHY = {
    offline: T("outbox_offline", "You seem to be offline. It is kept on this device and will be sent when the network is back."),
    "no-answer": T("outbox_no_answer", "The server did not answer. It is kept on this device and will be sent again."),
    "logged-out": T("outbox_logged_out", "You have been logged out. It is kept on this device; log in again and it will be sent."),
    "stale-page": T("outbox_stale_page", "It is kept on this device and will be sent from the next page you open while online."),
    "other-person": T("outbox_other_person", "Someone else is logged in now. It is kept on this device and sent only when you log in again."),
  };
  // Dates in the page's language: in the browser's own variant of it (en-GB, es-MX) if it has one.
  const locales = () => {
    const lang = (document.documentElement.lang || "").toLowerCase().split("-")[0];
    const own = (navigator.languages || [navigator.language]).find((l) => l && l.toLowerCase().split("-")[0] === lang);
    return own ? [own] : lang ? [lang] : [];
  };
  const when = (at) => new Date(at).toLocaleString(locales(), { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

  function enhance(form) {
    const box = document.getElementById(form.dataset.offlineOutbox);
    const status = document.getElementById(form.dataset.offlineOutbox + "-status");
    const url = new URL(form.action, location.href).pathname;
    const say = (text) => { if (status) status.textContent = text; };
    const texts = () => Array.from(form.elements).filter((el) =>
      el.name && (el.tagName === "TEXTAREA" || el.type === "text"));

    async function show() {
      if (!box) return;
      const mine = (await list()).filter((e) => e.url === url);
      const ul = box.querySelector("ul");
      ul.replaceChildren(...mine.map((entry) => {
        const li = document.createElement("li");
        const text = document.createElement("p");
        text.className = "text";
        text.textContent = Object.values(entry.fields).join("\n");
        const meta = document.createElement("p");
        meta.className = "muted";
        const written = T("outbox_written", "Written {when}", { when: when(entry.at) });
        meta.textContent = entry.refused
          ? T("outbox_could_not_save", "Could not be saved: {reason} Copy it if you want to keep it.", { reason: entry.refused }) + " " + written
          : written;
        li.append(text, meta);
        if (entry.refused) {
          const remove = document.createElement("button");
          remove.type = "button";
          remove.className = "secondary";
          remove.textContent = T("outbox_remove", "Remove it from this device");
          remove.addEventListener("click", () => drop(entry.id));
          li.append(remove);
        }
        return li;
      }));
      box.hidden = !mine.length;
    }

    form.addEventListener("submit", async (event) => {
      const fields = {};
      texts().forEach((el) => { fields[el.name] = el.value; });
      // Nothing written: the server's page says what is missing, as without this script.
      if (!Object.values(fields).some((v) => v.trim()) || form.dataset.kapSending) {
        if (form.dataset.kapSending) event.preventDefault();
        return;
      }
      event.preventDefault();
      form.dataset.kapSending = "yes";
      const button = form.querySelector("button[type=submit], button:not([type])");
      if (button) button.disabled = true;
      const done = () => { delete form.dataset.kapSending; if (button) button.disabled = false; };
      let entry;
      try {
        entry = await keep({ url, fields });
      } catch (e) { // it cannot be kept here (private mode, storage full): send it as a form
        done();
        form.submit();
        return;
      }
      say(T("saving", "Saving…"));
      const result = await send(entry, true);
      if (result.saved) {
        const next = new URL(result.url, location.href);
        if (next.pathname === location.pathname && next.search === location.search) {
          location.hash = next.hash;
          location.reload();
        } else {
          location.assign(next.href);
        }
        return;
      }
      if (result.refused) { // the server's page says why, next to the field
        await drop(entry.id);
        done();
        form.submit();
        return;
      }
      texts().forEach((el) => { el.value = ""; });
      done();
      say(WHY[result.kept] || WHY["no-answer"]);
      await show();
    });

    listeners.push((detail) => {
      show();
      const n = (detail.saved || []).length;
      if (n) {
        say(n === 1 ? T("outbox_saved_one", "What you wrote on this device is now saved. Reload the page to see it with the others.")
          : T("outbox_saved_many", "{n} entries written on this device are now saved. Reload the page to see them with the others.", { n }));
      }
    });
    show();
  }

  function start() {
    document.querySelectorAll("form[data-offline-outbox]").forEach(enhance);
    flush();
  }
  addEventListener("online", flush);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
