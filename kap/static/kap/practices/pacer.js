/* The breath pacer's schedule: which phase is on at a given time into the breathing, how long it
   has left, and how large the shape is. A pure function of time, so it cannot drift. */
window.KapPacer = (() => {
  "use strict";
  const T = window.KapT; // the words in the page's language (kap/static/kap/strings.js)
  const SMALL = 0.45;
  const LARGE = 1;
  const ease = (x) => (1 - Math.cos(Math.PI * x)) / 2;

  function phases(pace) {
    return [
      [T("breathe_in", "Breathe in"), pace.inhale, "in"],
      [T("hold", "Hold"), pace.hold_in, "full"],
      [T("breathe_out", "Breathe out"), pace.exhale, "out"],
      [T("hold", "Hold"), pace.hold_out, "empty"],
    ]
      .filter(([, seconds]) => seconds > 0)
      .map(([cue, seconds, kind]) => ({ cue, kind, ms: Math.round(seconds * 1000) }));
  }

  // The breathing of `minutes`, rounded up to whole breaths so it ends after breathing out.
  function segment(pace, minutes, text) {
    const list = phases(pace);
    const cycle = list.reduce((sum, p) => sum + p.ms, 0);
    const ms = Math.max(1, Math.ceil((minutes * 60000) / cycle)) * cycle;
    return { kind: "breath", text, ms, phases: list, cycle };
  }

  function view(seg, into) {
    let t = into % seg.cycle;
    for (const p of seg.phases) {
      if (t < p.ms) {
        const x = t / p.ms;
        const grow = p.kind === "in" ? ease(x) : p.kind === "out" ? 1 - ease(x) : p.kind === "full" ? 1 : 0;
        return { cue: p.cue, kind: p.kind, left: p.ms - t, length: p.ms, scale: SMALL + (LARGE - SMALL) * grow };
      }
      t -= p.ms;
    }
    return { cue: "", left: seg.ms - into, length: seg.ms, scale: SMALL };
  }

  return { segment, view };
})();
