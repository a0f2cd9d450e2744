/* On every page: registers the service worker (kap/templates/offline/sw.js), says when the page
   is the copy kept on this device, loads the outbox for a logged-in person (outbox.js), and at
   logout sends what waits in it, then clears this person's pages from the device. */
(() => {
  "use strict";
  const T = window.KapT; // the words in the page's language (kap/static/kap/strings.js)
  const me = document.currentScript;
  if (!me) return;
  const person = me.dataset.person || "";
  const sw = "serviceWorker" in navigator && window.isSecureContext;

  if (sw && me.dataset.worker) {
    navigator.serviceWorker.register(me.dataset.worker, { scope: "/", updateViaCache: "none" })
      .catch(() => { /* no worker: every page still works online */ });
  }

  // What is written with no network waits in IndexedDB, encrypted with WebCrypto: without either,
  // the forms work as they always did (sent at once).
  if (person && window.indexedDB && window.crypto && crypto.subtle) {
    const outbox = document.createElement("script");
    outbox.src = new URL("outbox.js", me.src).href;
    outbox.dataset.person = person;
    document.head.appendChild(outbox);
  }

  // --- "You are offline" -------------------------------------------------------------------------
  const kept = document.documentElement.dataset.kapKept; // set by the worker on a page it kept
  // Dates in the page's language: in the browser's own variant of it (en-GB, es-MX) if it has one.
  const locales = () => {
    const lang = (document.documentElement.lang || "").toLowerCase().split("-")[0];
    const own = (navigator.languages || [navigator.language]).find((l) => l && l.toLowerCase().split("-")[0] === lang);
    return own ? [own] : lang ? [lang] : [];
  };
  function keptOn() {
    const when = kept ? new Date(kept) : null;
    if (!when || isNaN(when)) return "";
    return when.toLocaleString(locales(), { weekday: "long", day: "numeric", month: "long", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  }
  function say(text, urgent) {
    const main = document.getElementById("main");
    if (!main) return null;
    let box = document.getElementById("offline-note");
    if (!box) {
      box = document.createElement("div");
      box.id = "offline-note";
      box.className = "messages";
      box.appendChild(document.createElement("p"));
      main.prepend(box);
    }
    box.setAttribute("role", urgent ? "alert" : "status");
    box.firstChild.className = "message " + (urgent ? "warning" : "info");
    box.firstChild.textContent = text;
    if (urgent) box.scrollIntoView({ block: "nearest" });
    return box;
  }
  function offlineNote() {
    if (document.querySelector("[data-offline-page]")) return; // the page that says it already
    if (kept) {
      const on = keptOn();
      say(on ? T("offline_kept_on", "You are offline. This is the copy of the page kept on this device as it was on {when}.", { when: on })
        : T("offline_kept", "You are offline. This is the copy of the page kept on this device."));
    } else if (!navigator.onLine) {
      say(T("offline_now", "You are offline. The guide, the practices and your Today page still open on this device."));
    }
  }
  document.addEventListener("DOMContentLoaded", () => {
    // A kept page's messages ("Saved.") were for the visit it was kept on, not for now.
    if (kept) document.querySelectorAll("#main > .messages:not(#offline-note)").forEach((el) => el.remove());
    offlineNote();
  });
  addEventListener("offline", offlineNote);
  addEventListener("online", () => {
    const note = document.getElementById("offline-note");
    if (note && kept) say(T("back_online", "You are back online. Reload the page to see it as it is now."));
    else if (note) note.remove();
  });

  // --- Logging out ---------------------------------------------------------------------------------
  // The server's answer clears the whole device (Clear-Site-Data). Before that: send what waits
  // in the outbox, and drop this person's pages from the worker's cache at once.
  const logout = me.dataset.logout;
  function within(ms, promise) {
    return Promise.race([promise, new Promise((resolve) => setTimeout(resolve, ms))]);
  }
  function tellWorker() {
    if (!sw || !navigator.serviceWorker.controller) return Promise.resolve();
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = resolve;
      navigator.serviceWorker.controller.postMessage({ type: "logout" }, [channel.port2]);
    });
  }
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!logout || !(form instanceof HTMLFormElement)) return;
    if (new URL(form.action, location.href).pathname !== logout) return;
    event.preventDefault();
    if (!navigator.onLine) {
      await within(2000, tellWorker());
      say(T("logout_offline", "You are offline, so you are not logged out yet: logging out needs the network. " +
        "Your pages kept for offline use are removed from this device; log out again once you are back online."), true);
      return;
    }
    const outbox = window.KapOffline;
    // Practice logs wait in localStorage (kap/static/kap/practices/practice-outbox.js).
    const practices = () => {
      try { return (JSON.parse(localStorage.getItem("kap-practice-outbox-" + person)) || []).length; } catch (e) { return 0; }
    };
    if (outbox || practices()) {
      await within(5000, Promise.all([outbox && outbox.flush(), window.KapOutbox && window.KapOutbox.flush()]));
      const words = (outbox && await within(2000, outbox.count())) || 0;
      const done = practices();
      if ((words || done) && form.dataset.kapConfirmed !== "yes") {
        form.dataset.kapConfirmed = "yes";
        const notes = [];
        if (words) {
          notes.push(words === 1 ? T("logout_unsent_one", "Something you wrote on this device has not been sent yet.")
            : T("logout_unsent_many", "{n} things you wrote on this device have not been sent yet.", { n: words }));
        }
        if (done) {
          notes.push(done === 1 ? T("logout_practice_one", "A practice you did here has not been saved yet: opening Practices saves it.")
            : T("logout_practice_many", "{n} practices you did here have not been saved yet: opening Practices saves them.", { n: done }));
        }
        say(notes.join(" ") + " " + T("logout_anyway", "Logging out removes this from the device. Log out again to log out anyway."), true);
        return;
      }
    }
    await within(2000, tellWorker());
    form.submit();
  });
})();
