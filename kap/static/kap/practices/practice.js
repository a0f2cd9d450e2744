/* A guided practice page. Where the practice is comes from the clock (time since start, pauses
   left out), never from summed timeouts, so it cannot drift; a timeout only says when to look
   again. No step waits on the server: the log is kept by KapOutbox and sent at the end.
   Once started, the practice runs in focus mode: it fills the screen and the rest is hidden. */
(() => {
  "use strict";
  const T = window.KapT; // the words in the page's language (kap/static/kap/strings.js)
  const $ = (id) => document.getElementById(id);
  const app = $("practice-app");
  const specEl = $("practice-spec");
  if (!app || !specEl || !window.KapOutbox) return;
  const spec = JSON.parse(specEl.textContent);
  const setup = $("practice-setup");
  const run = $("practice-run");
  const after = $("practice-after");
  const focusBox = $("practice-focus");
  const cues = window.KapCues || { start() {}, play() {} };
  const live = $("practice-live");
  const pauseBtn = $("practice-pause");
  const nextBtn = $("practice-next");
  const saveBtn = $("practice-save");
  const shape = $("pacer-shape");
  const progress = $("practice-progress");
  const reduce = matchMedia("(prefers-reduced-motion: reduce)");
  const now = () => performance.now();
  const counts = Object.fromEntries(spec.notings.map((n) => [n, 0]));

  let plan = null;
  let state = "setup"; // setup → running ⇄ paused → done
  let t0 = 0, pausedAt = 0, pausedMs = 0, skipMs = 0, timer = 0, frame = 0, said = "", rec = null;

  app.hidden = false;

  const active = () => (state === "paused" ? pausedAt : now()) - t0 - pausedMs;
  const position = () => active() + skipMs;
  const say = (words) => { live.textContent = words; };
  const text = (id, value) => {
    const el = $(id);
    if (el && el.textContent !== value) el.textContent = value;
  };
  const clock = (ms) => {
    const s = Math.max(0, Math.ceil(ms / 1000));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  };
  const rating = (form) => {
    const c = form.querySelector("input[name$='-settled']:checked");
    return c && c.value !== "" ? Number(c.value) : null;
  };

  function uuid() {
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 15) | 64;
    b[8] = (b[8] & 63) | 128;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20)].join("-");
  }

  function where(pos) {
    let start = 0;
    for (let i = 0; i < plan.segments.length; i++) {
      const seg = plan.segments[i];
      if (pos < start + seg.ms) return { seg, i, into: pos - start };
      start += seg.ms;
    }
    return null;
  }

  function view({ seg, into }) {
    if (seg.kind === "breath") return KapPacer.view(seg, into);
    const left = seg.ms - into;
    if (seg.kind === "step") return { cue: seg.text, left, length: seg.ms };
    return { cue: seg.ms > 120000 && left <= 60000 ? T("one_minute_left", "One minute left") : "", left, length: seg.ms };
  }

  function show(w, v, pos) {
    const { seg, i } = w;
    if (seg.text) text("practice-step", seg.text);
    run.classList.toggle("is-step", seg.kind === "step");
    text("practice-phase", seg.kind === "step" ? "" : v.cue);
    text("practice-count", seg.kind === "quiet" ? "" : String(Math.ceil(v.left / 1000)));
    text("practice-left", T("time_left", "{time} left", { time: clock(plan.total - pos) }));
    if (progress) {
      const whole = Math.max(1, Math.round(v.length / 1000));
      const done = Math.min(whole - 1, Math.floor((v.length - v.left) / 1000));
      progress.max = whole;
      progress.value = done + 1;
      text("practice-progress-text", T("second_of", "Second {n} of {total}", { n: done + 1, total: whole }));
    }
    if (nextBtn) nextBtn.textContent = i === plan.segments.length - 1 ? T("finish", "Finish") : T("next_step", "Next step");
    const key = i + "|" + v.cue;
    if (key !== said) {
      const fresh = said.split("|")[0] !== String(i);
      if (v.cue || fresh) cues.play(seg.kind === "breath" ? v.kind : "step");
      said = key;
      const words = [fresh && seg.kind !== "quiet" ? seg.text : "", seg.kind === "step" ? "" : v.cue];
      const message = words.filter(Boolean).join(". ");
      if (message) say(message);
    }
  }

  function tick() {
    clearTimeout(timer);
    if (state !== "running") return;
    const pos = position();
    const w = pos < plan.total ? where(pos) : null;
    if (!w) return finish(true);
    const v = view(w);
    show(w, v, pos);
    // Look again when the next number or phase is due: computed, so lateness never adds up.
    const wait = Math.min(v.left % 1000 || 1000, (plan.total - pos) % 1000 || 1000);
    timer = setTimeout(tick, Math.max(1, wait));
  }

  function draw() {
    frame = 0;
    if (state !== "running") return;
    const w = where(position());
    if (!w || w.seg.kind !== "breath") return; // the steps after breathing are still
    shape.style.transform = `scale(${view(w).scale.toFixed(4)})`;
    frame = requestAnimationFrame(draw);
  }

  function animate() {
    cancelAnimationFrame(frame);
    if (!shape) return;
    if (reduce.matches) shape.style.transform = ""; // the stylesheet's still shape
    else if (state === "running") frame = requestAnimationFrame(draw);
  }

  function mark(inputs, errorEl, message) {
    errorEl.textContent = message;
    errorEl.hidden = !message;
    for (const input of inputs) {
      if (message) {
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", errorEl.id);
      } else {
        input.removeAttribute("aria-invalid");
        input.removeAttribute("aria-describedby");
      }
    }
    if (message) inputs[0].focus();
    return !message;
  }

  function readMinutes() {
    const input = $("practice-minutes");
    const d = spec.duration;
    const n = Number(input.value);
    const ok = input.value !== "" && Number.isInteger(n) && n >= d.min_minutes && n <= d.max_minutes;
    const message = T("minutes_range", "Choose a whole number of minutes from {min} to {max}.", { min: d.min_minutes, max: d.max_minutes });
    return mark([input], $("practice-minutes-error"), ok ? "" : message) ? n : null;
  }

  function readPace() {
    const chosen = setup.querySelector("input[name=pace]:checked");
    const preset = spec.paces.find((p) => chosen && p.key === chosen.value);
    const own = Array.from(setup.querySelectorAll("[data-part]"));
    const ok = preset || own.every((i) => i.value !== "" && +i.value >= +i.min && +i.value <= +i.max);
    const message = T("pace_range", "Breathing in and out take 1 to 20 seconds each; holds 0 to 20.");
    if (!mark(own, $("pace-own-error"), ok ? "" : message)) return null;
    if (preset) return preset;
    const pace = { key: spec.customPace };
    for (const input of own) pace[input.dataset.part] = Number(input.value);
    return pace;
  }

  // Everything but the practice is hidden (and inert) until the page is left: each element beside
  // the path from the practice up to <body>, whatever the page around it holds.
  function enterFocus() {
    for (let el = focusBox; el.parentElement && el !== document.body; el = el.parentElement) {
      for (const other of el.parentElement.children) {
        if (other === el || other.matches("script, link, [data-focus-keep]")) continue;
        other.inert = true;
        other.classList.add("focus-off");
      }
    }
    document.body.classList.add("focus-mode"); // the shell's own hook too (app.css)
    focusBox.hidden = false;
    scrollTo(0, 0);
  }

  setup.addEventListener("submit", (e) => {
    e.preventDefault();
    const minutes = readMinutes();
    const pace = spec.paces.length ? readPace() : null;
    if (minutes === null || (spec.paces.length && !pace)) return;
    const segments = pace
      ? [KapPacer.segment(pace, minutes, spec.steps[0].text)].concat(
          spec.steps.slice(1).map((s) => ({ kind: "step", text: s.text, ms: (s.seconds || 60) * 1000 })))
      : [{ kind: "quiet", text: "", ms: minutes * 60000 }];
    plan = {
      id: uuid(),
      segments,
      total: segments.reduce((sum, s) => sum + s.ms, 0),
      pace,
      before: rating(setup),
      startedAt: new Date().toISOString(),
    };
    cues.start();
    enterFocus();
    run.hidden = false;
    if (nextBtn) nextBtn.hidden = segments.length < 2;
    state = "running";
    t0 = now();
    pauseBtn.focus({ preventScroll: true });
    if (!pace) say(T("quiet_begun", "Quiet time has begun: {minutes} minutes.", { minutes }));
    tick();
    animate();
  });

  function toggle() {
    if (state === "running") {
      pausedAt = now();
      state = "paused";
      clearTimeout(timer);
      cancelAnimationFrame(frame);
      pauseBtn.textContent = T("resume", "Resume");
      run.classList.add("is-paused");
      say(T("paused", "Paused. Press Space to go on."));
    } else if (state === "paused") {
      pausedMs += now() - pausedAt;
      state = "running";
      pauseBtn.textContent = T("pause", "Pause");
      run.classList.remove("is-paused");
      said = "";
      tick();
      animate();
    }
  }

  function finish(completed) {
    if (state === "setup" || state === "done") return;
    const ms = Math.min(active(), plan.total);
    state = "done";
    clearTimeout(timer);
    cancelAnimationFrame(frame);
    rec = {
      uuid: plan.id,
      instrument: spec.key,
      version: spec.version,
      started_at: plan.startedAt,
      planned_seconds: Math.round(plan.total / 1000),
      elapsed_seconds: Math.round(ms / 1000),
      completed,
      settled_before: plan.before,
      settled_after: null,
      pace: plan.pace,
      notings: counts,
    };
    // Kept before anything else: if the page closes now, the next page load sends it.
    KapOutbox.hold(rec.uuid);
    KapOutbox.keep(rec);
    run.hidden = true;
    after.hidden = false;
    if (completed) cues.play("end");
    // The heading says it once (and is read when it takes focus); the rest adds, never repeats.
    const words = completed
      ? T("take_a_moment", "Take a moment before you move on.")
      : T("practised_for", "You practised for {time}. Stopping early is fine.", { time: clock(ms) });
    text("practice-after-title", completed ? T("you_finished", "You finished") : T("you_stopped", "You stopped"));
    text("practice-summary", words + " " + T("note_settled", "If you like, note how settled you feel now, then save."));
    $("practice-after-title").focus({ preventScroll: true });
    say(words);
  }

  const saved = () => {
    text("practice-saved", T("practice_saved", "Saved. Thank you for taking this time."));
    saveBtn.disabled = true;
  };

  after.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!rec || saveBtn.disabled) return;
    rec.settled_after = rating(after);
    KapOutbox.keep(rec);
    KapOutbox.release(rec.uuid);
    saveBtn.disabled = true;
    text("practice-saved", T("saving", "Saving…"));
    const result = await KapOutbox.send(rec);
    if (result.saved) return saved();
    if (result.refused) return text("practice-saved", T("practice_not_saved", "This practice could not be saved. {reason}", { reason: result.refused }));
    saveBtn.disabled = false;
    text("practice-saved", T("practice_offline", "You seem to be offline. The practice is kept on this device " +
      "and will be saved when the connection is back."));
  });
  KapOutbox.onFlush(() => { if (rec && !saveBtn.disabled && !KapOutbox.has(rec.uuid)) saved(); });

  pauseBtn.addEventListener("click", toggle);
  $("practice-stop").addEventListener("click", () => finish(false));
  if (nextBtn) {
    nextBtn.addEventListener("click", () => {
      const w = state === "running" || state === "paused" ? where(position()) : null;
      if (!w) return;
      skipMs += w.seg.ms - w.into;
      if (state === "paused") toggle();
      else tick();
    });
  }
  for (const btn of document.querySelectorAll("[data-noting]")) {
    btn.addEventListener("click", () => {
      if (state !== "running" && state !== "paused") return;
      const key = btn.dataset.noting;
      counts[key] += 1;
      btn.querySelector(".noting-count").textContent = counts[key];
      say(T("noted", "{name} noted.", { name: btn.firstChild.textContent.trim() }));
    });
  }
  document.addEventListener("keydown", (e) => {
    if (state !== "running" && state !== "paused") return;
    if (e.key === "Escape") {
      e.preventDefault();
      finish(false);
    } else if (e.key === " " && !e.target.closest("button, a, input, select, textarea, summary")) {
      e.preventDefault(); // Space on a focused button presses that button instead
      toggle();
    }
  });
  reduce.addEventListener("change", animate);
  // Leaving mid-practice keeps what was done (as stopped early) for the next page load to send.
  addEventListener("pagehide", () => finish(false));
})();
