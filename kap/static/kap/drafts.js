/* Drafts that are never lost. htmx sends the form as the person types (debounced) and on blur;
   this file keeps a copy in localStorage until the server has acknowledged it, so a reload, a
   closed tab, a network error or an expired login loses nothing. */
(function () {
  "use strict";
  // The page shown after a submit: what this device kept for that form is now on the server.
  document.querySelectorAll("[data-draft-done]").forEach(function (el) {
    try { localStorage.removeItem("kap-draft:" + el.dataset.draftDone); } catch (e) { /* none */ }
  });
  var form = document.querySelector("form[data-draft-key]");
  if (!form) return;
  var inFlight = false, submitting = false, submitAfter = null;
  var storeKey = "kap-draft:" + form.dataset.draftKey;
  var status = document.getElementById("draft-status");
  var version = form.querySelector("input[name=version]");

  function say(text) { if (status) status.textContent = text; }
  function fields() {
    var out = {};
    form.querySelectorAll("textarea, input[type=text]").forEach(function (el) { out[el.name] = el.value; });
    return out;
  }
  function keep() {
    try {
      localStorage.setItem(storeKey, JSON.stringify({ fields: fields(), version: version.value, at: Date.now() }));
    } catch (e) { /* storage full or disabled: the server copy is still tried */ }
  }
  function forget() { localStorage.removeItem(storeKey); }
  function send() { if (window.htmx) htmx.trigger(form, "kap:save"); }

  form.addEventListener("input", keep);
  // Leaving a text box to click Submit starts one last autosave: the submit waits for it (and
  // then carries the version it made), and no autosave starts once the submit has gone.
  function settled() {
    inFlight = false;
    if (submitAfter) {
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
      say("Saved at " + data.saved_at + ".");
    } else if (xhr.status === 401 || xhr.status === 403) {
      say("You have been logged out. Your words are kept on this device; log in again and they will be saved.");
      var login = document.getElementById("draft-login");
      if (login) login.hidden = false;
    } else if (xhr.status === 409) {
      say(data.message || "This was changed elsewhere. Reload to compare both versions.");
    } else {
      say("Not saved yet (" + xhr.status + "). Your words are kept on this device and will be sent again.");
    }
  });
  form.addEventListener("htmx:sendError", function () {
    setTimeout(settled, 0);
    say("You seem to be offline. Your words are kept on this device and will be saved when you are back.");
  });
  form.addEventListener("htmx:beforeRequest", function (evt) {
    if (submitting) { evt.preventDefault(); return; }
    inFlight = true; keep(); say("Saving…");
  });
  form.addEventListener("submit", function (evt) {
    keep();
    if (inFlight) {
      evt.preventDefault();
      submitAfter = { button: evt.submitter };
      say("Saving… then submitting.");
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
    var saved = null;
    try { saved = JSON.parse(localStorage.getItem(storeKey) || "null"); } catch (e) { saved = null; }
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
        say("Restored what you wrote on this device; saving it now.");
        send();
      } else {
        // A newer version was saved elsewhere: never overwrite it silently; show both.
        var box = document.getElementById("draft-local");
        if (box) {
          box.hidden = false;
          var list = box.querySelector("div");
          changed.forEach(function (name) {
            var pre = document.createElement("pre");
            pre.className = "text";
            pre.textContent = saved.fields[name];
            list.appendChild(pre);
          });
        }
        say("A newer version was saved elsewhere. What you wrote on this device is shown below.");
      }
    }
  }
})();
