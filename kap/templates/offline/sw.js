/* The service worker: the guide, the practices and a person's last Today page open with no network.

   The caches are all named after this worker's version, so a new version (a new release, a
   reloaded guide, new translations) deletes every cache of the one before when it takes over:
   - "shared": public static files and the manifest, fetched without a cookie;
   - "pages-<language>": the public pages (the guide, the crisis page, the page shown offline) in
     each language of the site (KAP.languages), fetched without a cookie, so they hold nobody's
     name or data, and asked for in that language (Accept-Language);
   - "person-<id>": one person's own pages (Today, their guides and practices, their latest
     session), only those the server marks `Kap-Offline: keep`, in the language the person reads
     in. There is at most one: as soon as a page arrives for someone else, or for nobody (logged
     out, the login expired), it is deleted; when a page arrives in another language (they chose
     another), it is made again in that one;
   - "state": the language of the last page that came from the network (its Content-Language:
     the person's choice, the language cookie or the browser's), so that a page answered from the
     device is in the language the person reads in, even after the worker was stopped.
   Only pages are answered from a cache, and only when the network fails; nothing is ever sent
   from here (what is written offline waits in kap/static/kap/offline/outbox.js). */
"use strict";
const KAP = {{ config }};
{% verbatim %}
const PREFIX = "kap-" + KAP.version + "-";
const SHARED = PREFIX + "shared";
const PAGES = PREFIX + "pages-";
const PERSON = PREFIX + "person-";
const STATE = PREFIX + "state";
const LANGUAGE_KEY = new URL(KAP.offlinePage + "language", self.location.origin).href; // in STATE only
const isFile = (url) => url.pathname.startsWith(KAP.staticPrefix) || url.pathname === KAP.manifest;

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    const files = KAP.precache.filter((url) => isFile(new URL(url, self.location.origin)));
    const pages = KAP.precache.filter((url) => !files.includes(url));
    // No cookie: what is kept for anyone on this device holds nobody's data.
    const anyone = (url, headers) => new Request(url, { credentials: "omit", cache: "no-cache", headers });
    await Promise.all([
      caches.open(SHARED).then((cache) => cache.addAll(files.map((url) => anyone(url)))),
      // The public pages once in each language: with no cookie, the server goes by Accept-Language.
      ...KAP.languages.map((language) => caches.open(PAGES + language).then((cache) =>
        cache.addAll(pages.map((url) => anyone(url, { "Accept-Language": language }))))),
    ]);
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith(PREFIX)) continue;
      if (name.endsWith("-state") && !language) { // the language read in goes on to this version
        const kept = await (await caches.open(name)).match(LANGUAGE_KEY);
        if (kept) await remember(await kept.text());
      }
      await caches.delete(name);
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
  } else if (isFile(url)) {
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

// The language of the pages the person reads (KAP.languages): the last one a page came in from
// the network; before any, the browser's if the site has it, else the site's own.
let language = null;
async function readingLanguage() {
  if (language) return language;
  const kept = await caches.match(LANGUAGE_KEY, { cacheName: STATE });
  const found = kept ? await kept.text() : "";
  if (KAP.languages.includes(found)) return (language = found);
  const browser = (self.navigator.languages || []).map((l) => l.toLowerCase().split("-")[0]);
  return browser.find((l) => KAP.languages.includes(l)) || KAP.defaultLanguage;
}
async function remember(found) {
  if (!KAP.languages.includes(found) || found === language) return;
  language = found;
  await (await caches.open(STATE)).put(LANGUAGE_KEY, new Response(found, { headers: { "Content-Type": "text/plain" } }));
}
const languageOf = (response) => response.headers.get("Content-Language") || "";

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
    const lang = await readingLanguage();
    const kept = await fromDevice(request.url, lang);
    if (kept) return kept;
    const fallback = await publicPage(KAP.offlinePage, lang);
    const text = KAP.offlineText[lang] || KAP.offlineText[KAP.defaultLanguage];
    return fallback || new Response(text, { status: 503, headers: { "Content-Type": "text/plain; charset=utf-8", "Content-Language": lang } });
  }
}

async function note(request, response) {
  if (response.type !== "basic") return; // a redirect: its page is noted when it arrives
  const lang = languageOf(response);
  await remember(lang);
  const person = response.headers.get("Kap-Person");
  await forgetPeople(person);
  if (!person) return;
  const name = PERSON + person;
  const first = await serial(async () => {
    let fresh = !(await caches.has(name));
    if (!fresh && lang && ![null, lang].includes(await keptIn(name))) {
      await caches.delete(name); // kept in the language they read in before: kept again in this one
      fresh = true;
    }
    const cache = await caches.open(name);
    if (keepable(response, person, request.url)) await cache.put(request.url, response);
    return fresh;
  });
  if (first) await keepPagesOf(person, lang);
}

// The language of the pages in a person's cache (null while it has none).
async function keptIn(name) {
  const cache = await caches.open(name);
  const [any] = await cache.keys();
  const found = any && await cache.match(any, { ignoreVary: true });
  return found ? languageOf(found) : null;
}

function keepable(response, person, url, lang) {
  return response.ok && !response.redirected && response.url === url
    && response.headers.get("Kap-Person") === person
    && response.headers.get("Kap-Offline") === "keep"
    && (!lang || languageOf(response) === lang);
}

// Right after a person is first seen here: their pages, so that those never opened yet also
// open offline. One at a time (the phone is still being used); stops once they are gone. Only
// pages in `lang`, the language of the page that started it.
async function keepPagesOf(person, lang) {
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
      if (keepable(response, person, url, lang)) await (await caches.open(name)).put(url, response);
      return true;
    });
    if (!kept) return;
  }
}

// A public page kept on this device: in `lang`, else in another language rather than none.
async function publicPage(url, lang) {
  for (const each of [lang].concat(KAP.languages.filter((l) => l !== lang))) {
    const found = await caches.match(url, { cacheName: PAGES + each, ignoreVary: true });
    if (found) return found;
  }
  return null;
}

// A page kept on this device: the person's own copy first, else the public one in `lang`. It is
// marked (data-kap-kept on <html>, with the day it was kept) so that register.js can say so.
async function fromDevice(url, lang) {
  let found = null;
  for (const name of await personCaches()) {
    found = await (await caches.open(name)).match(url, { ignoreVary: true });
    if (found) break;
  }
  found = found || await publicPage(url, lang);
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
