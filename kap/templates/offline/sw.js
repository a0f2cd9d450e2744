/* The service worker: the guide, the practices and a person's last Today page open with no network.

   Two kinds of cache, both named after this worker's version, so a new version (a new release, a
   reloaded guide) deletes every cache of the one before when it takes over:
   - "shared": public static files and public pages (the guide, the crisis page, the page shown
     offline), fetched without a cookie, so they hold nobody's name or data;
   - "person-<id>": one person's own pages (Today, their guides and practices, their latest
     session), only those the server marks `Kap-Offline: keep`. There is at most one: as soon as a
     page arrives for someone else, or for nobody (logged out, the login expired), it is deleted.
   Only pages are answered from a cache, and only when the network fails; nothing is ever sent
   from here (what is written offline waits in kap/static/kap/offline/outbox.js). */
"use strict";
const KAP = {{ config }};
{% verbatim %}
const PREFIX = "kap-" + KAP.version + "-";
const SHARED = PREFIX + "shared";
const PERSON = PREFIX + "person-";

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const cache = await caches.open(SHARED);
    // No cookie: what is kept for anyone on this device holds nobody's data.
    await cache.addAll(KAP.precache.map((url) => new Request(url, { credentials: "omit", cache: "no-cache" })));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (!name.startsWith(PREFIX)) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  // The page says its person is logging out: their pages go now, before the server's
  // Clear-Site-Data clears the rest.
  if (event.data && event.data.type === "logout") {
    event.waitUntil(forgetPeople(null).then(() => event.ports[0] && event.ports[0].postMessage("done")));
  }
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(page(event));
  } else if (url.pathname.startsWith(KAP.staticPrefix) || url.pathname === KAP.manifest) {
    event.respondWith(shared(request));
  }
  // Anything else (a form's autosave, a download) goes to the network as without a worker.
});

// Every change to a person's cache runs one at a time: a page kept in the background cannot
// re-create the cache that a logout has just deleted (a check and a put with a delete between).
let writes = Promise.resolve();
function serial(job) {
  const run = writes.then(job, job);
  writes = run.catch(() => {});
  return run;
}

async function personCaches() {
  return (await caches.keys()).filter((name) => name.startsWith(PERSON));
}

// Delete every person's pages but `person`'s (everyone's when `person` is null).
function forgetPeople(person) {
  return serial(async () => {
    for (const name of await personCaches()) {
      if (person === null || name !== PERSON + person) await caches.delete(name);
    }
  });
}

// A page: from the network; kept for its person when the server says so; from the device when
// the network fails.
async function page(event) {
  const request = event.request;
  try {
    const response = await fetch(request);
    event.waitUntil(note(request, response.clone()));
    return response;
  } catch (offline) {
    const kept = await fromDevice(request.url);
    if (kept) return kept;
    const fallback = await caches.match(KAP.offlinePage, { cacheName: SHARED });
    return fallback || new Response("You are offline.", { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8" } });
  }
}

async function note(request, response) {
  if (response.type !== "basic") return; // a redirect: its page is noted when it arrives
  const person = response.headers.get("Kap-Person");
  await forgetPeople(person);
  if (!person) return;
  const name = PERSON + person;
  const first = await serial(async () => {
    const fresh = !(await caches.has(name));
    const cache = await caches.open(name);
    if (keepable(response, person, request.url)) await cache.put(request.url, response);
    return fresh;
  });
  if (first) await keepPagesOf(person);
}

function keepable(response, person, url) {
  return response.ok && !response.redirected && response.url === url
    && response.headers.get("Kap-Person") === person
    && response.headers.get("Kap-Offline") === "keep";
}

// Right after a person is first seen here: their pages, so that those never opened yet also
// open offline. One at a time (the phone is still being used); stops once they are gone.
async function keepPagesOf(person) {
  const name = PERSON + person;
  const headers = { "X-Kap-Background": "1", [KAP.precacheHeader]: "1" };
  let list;
  try {
    const response = await fetch(KAP.personPages, { credentials: "same-origin", headers });
    list = response.ok ? await response.json() : null;
  } catch (offline) { return; }
  if (!list || String(list.person) !== person) return;
  for (const path of list.pages) {
    const url = new URL(path, self.location.origin).href;
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", headers, redirect: "follow" });
    } catch (offline) { return; }
    if (!response.headers.get("Kap-Person")) return;
    const kept = await serial(async () => {
      if (!(await caches.has(name))) return false; // logged out meanwhile
      if (keepable(response, person, url)) await (await caches.open(name)).put(url, response);
      return true;
    });
    if (!kept) return;
  }
}

// A page kept on this device: the person's own copy first, else the public one. It is marked
// (data-kap-kept on <html>, with the day it was kept) so that register.js can say so.
async function fromDevice(url) {
  let found = null;
  for (const name of await personCaches()) {
    found = await (await caches.open(name)).match(url, { ignoreVary: true });
    if (found) break;
  }
  found = found || await caches.match(url, { cacheName: SHARED, ignoreVary: true });
  if (!found) return null;
  const kept = found.headers.get("Date") || "";
  const html = (await found.text()).replace("<html", '<html data-kap-kept="' + kept.replace(/[^\w ,:+-]/g, "") + '"');
  const headers = new Headers(found.headers);
  headers.delete("Content-Length");
  headers.delete("Content-Encoding");
  return new Response(html, { status: found.status, statusText: found.statusText, headers });
}

// A static file or the manifest: from the device (kept at install, and versioned with it), else
// from the network, then kept.
async function shared(request) {
  const cache = await caches.open(SHARED);
  const hit = await cache.match(request, { ignoreVary: true });
  if (hit) return hit;
  const response = await fetch(request);
  if (response.ok && response.type === "basic" && !response.headers.get("Kap-Person")) {
    await cache.put(request, response.clone());
  }
  return response;
}
{% endverbatim %}
