/* Drafts that are never lost. htmx sends the form as the person types (debounced) and on blur;
   this file keeps a copy in localStorage until the server has acknowledged it, so a reload, a
   closed tab, a network error or an expired login loses nothing.

   Every window of the same form shares that copy. So when the server refuses a window's save
   because another window saved first (409), that window also keeps what it wrote under a key of
   its own, which no other window overwrites. The form shows such a copy under "Written on this
   device" until its words are in a saved draft, or the form was submitted after showing it. */
(function () {
  "use strict";
  const T = window.KapT; // the words in the page's language (kap/static/kap/strings.js)
  var REFUSED = "|refused|";
  function read(key) {
    try { return JSON.parse(localStorage.getItem(key) || "null"); } catch (e) { return null; }
  }
  function refusedKeys(key) {
    var out = [];
    try {
      for (var i = 0; i < localStorage.length; i++) {
        var k = localStorage.key(i);
        if (k && k.indexOf(key + REFUSED) === 0) out.push(k);
      }
    } catch (e) { /* storage disabled */ }
    return out;
  }
  // The page shown after a submit: what this device kept for that form is now on the server,
  // and so is whatever refused copy that form showed before it was submitted.
  document.querySelectorAll("[data-draft-done]").forEach(function (el) {
    var done = "kap-draft:" + el.dataset.draftDone;
    try {
      localStorage.removeItem(done);
      refusedKeys(done).forEach(function (k) {
        var copy = read(k);
        if (!copy || copy.seen) localStorage.removeItem(k);
      });
    } catch (e) { /* none */ }
  });
  var form = document.querySelector("form[data-draft-key]");
  if (!form) return;
  var inFlight = 0, submitting = false, submitAfter = null; // inFlight: autosaves on their way
  var storeKey = "kap-draft:" + form.dataset.draftKey;
  var refusedKey = null; // set once this page's save was refused: its own copy
  var status = document.getElementById("draft-status");
  var version = form.querySelector("input[name=version]");

  function say(text) { if (status) status.textContent = text; }
  function fields() {
    var out = {};
    form.querySelectorAll("textarea, input[type=text]").forEach(function (el) { out[el.name] = el.value; });
    return out;
  }
  function keep() {
    var copy = JSON.stringify({ fields: fields(), version: version.value, at: Date.now() });
    try {
      localStorage.setItem(storeKey, copy);
      if (refusedKey) localStorage.setItem(refusedKey, copy);
    } catch (e) { /* storage full or disabled: the server copy is still tried */ }
  }
  function forget() { localStorage.removeItem(storeKey); }
  // The words of a copy that are not in the form now (a refused copy is merged, not replaced).
  function notInForm(copy) {
    return Object.keys((copy && copy.fields) || {}).filter(function (name) {
      var el = form.elements[name], text = String(copy.fields[name] || "").trim();
      return el && text && el.value.indexOf(text) === -1;
    });
  }
  // After a save: refused copies whose words are all in what was saved have done their job.
  function forgetMerged() {
    refusedKeys(storeKey).forEach(function (k) {
      if (!notInForm(read(k)).length) {
        localStorage.removeItem(k);
        if (k === refusedKey) refusedKey = null;
      }
    });
  }
  function send() { if (window.htmx) htmx.trigger(form, "kap:save"); }

  form.addEventListener("input", keep);
  // Leaving a text box to click Submit starts one last autosave: the submit waits for it, and for
  // any autosave htmx had queued behind it (and then carries the version they made); no autosave
  // starts once the submit has gone, so the server never sees the two at once.
  function settled() {
    inFlight = Math.max(0, inFlight - 1);
    if (submitAfter && !inFlight) {
      var button = submitAfter.button;
      submitAfter = null;
      if (form.requestSubmit) form.requestSubmit(button || undefined); else form.submit();
    }
  }
  form.addEventListener("htmx:afterRequest", function (evt) {
    var xhr = evt.detail.xhr;
    setTimeout(settled, 0); // after the version below is updated
    if (!xhr || !xhr.status) return; // network error: handled by htmx:sendError
    var data = {};
    try { data = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
    if (xhr.status === 200 && data.status === "saved") {
      version.value = data.version;
      var pending = JSON.parse(localStorage.getItem(storeKey) || "null");
      // Forget the local copy only if nothing was typed while the save was on its way;
      // otherwise keep it, now based on the new version.
      if (pending && JSON.stringify(pending.fields) === JSON.stringify(fields())) forget();
      else keep();
      forgetMerged();
      say(T("draft_saved_at", "Saved at {time}.", { time: data.saved_at }));
    } else if (xhr.status === 401 || xhr.status === 403) {
      say(T("draft_logged_out", "You have been logged out. Your words are kept on this device; log in again and they will be saved."));
      var login = document.getElementById("draft-login");
      if (login) login.hidden = false;
    } else if (xhr.status === 409) {
      // Another window saved first. What this one wrote is kept where no other window writes.
      if (!refusedKey) {
        refusedKey = storeKey + REFUSED + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
      }
      keep();
      say(data.message || T("draft_conflict", "This was changed elsewhere. Reload to compare both versions."));
    } else {
      say(T("draft_not_saved", "Not saved yet ({status}). Your words are kept on this device and will be sent again.", { status: xhr.status }));
    }
  });
  form.addEventListener("htmx:sendError", function () { // (htmx:afterRequest has fired too)
    say(T("draft_offline", "You seem to be offline. Your words are kept on this device and will be saved when you are back."));
  });
  form.addEventListener("htmx:beforeRequest", function (evt) {
    if (submitting) { evt.preventDefault(); return; }
    inFlight += 1; keep(); say(T("saving", "Saving…"));
  });
  form.addEventListener("submit", function (evt) {
    keep();
    if (inFlight) {
      evt.preventDefault();
      submitAfter = { button: evt.submitter };
      say(T("draft_saving_then_submitting", "Saving… then submitting."));
      return;
    }
    submitting = true;
  });
  window.addEventListener("online", send);

  // On load: bring back anything typed here that the server has not acknowledged. Run after
  // htmx has set the form up (its DOMContentLoaded handler was registered before this one).
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", restore);
  else setTimeout(restore, 0);

  function restore() {
    var shown = [];
    function show(texts) {
      var box = document.getElementById("draft-local");
      if (!box) return;
      box.hidden = false;
      var list = box.querySelector("div");
      texts.forEach(function (text) {
        if (shown.indexOf(text) !== -1) return;
        shown.push(text);
        var pre = document.createElement("pre");
        pre.className = "text";
        pre.textContent = text;
        list.appendChild(pre);
      });
    }
    var saved = read(storeKey);
    if (saved && saved.fields) {
      var changed = Object.keys(saved.fields).filter(function (name) {
        var el = form.elements[name];
        return el && el.value !== saved.fields[name];
      });
      if (!changed.length) {
        forget();
      } else if (String(saved.version || "") === String(version.value || "")) {
        // Nothing newer was saved elsewhere: what is on this device is the latest; send it.
        changed.forEach(function (name) { form.elements[name].value = saved.fields[name]; });
        say(T("draft_restored", "Restored what you wrote on this device; saving it now."));
        send();
      } else {
        // A newer version was saved elsewhere: never overwrite it silently; show both.
        show(changed.map(function (name) { return saved.fields[name]; }));
        say(T("draft_newer_elsewhere", "A newer version was saved elsewhere. What you wrote on this device is shown below."));
      }
    }
    // What a window wrote and the server refused: shown until it is in a saved draft.
    var refused = 0;
    refusedKeys(storeKey).forEach(function (k) {
      var copy = read(k), missing = notInForm(copy);
      if (!missing.length) { localStorage.removeItem(k); return; }
      show(missing.map(function (name) { return copy.fields[name]; }));
      copy.seen = true;
      try { localStorage.setItem(k, JSON.stringify(copy)); } catch (e) { /* kept as it was */ }
      refused += 1;
    });
    if (refused) {
      say(T("draft_other_window", "Another window saved first. What you wrote there is shown below: copy what you want to keep."));
    }
  }
})();
