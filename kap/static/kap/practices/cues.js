/* Optional gentle cues for a practice: a short soft tone (Web Audio, made here: no sound file) and
   a short vibration where the device has one. Both are off unless the person turns them on; the
   choice is remembered on this device only. */
window.KapCues = (() => {
  "use strict";
  const KEY = "kap-practice-cues";
  const sound = document.getElementById("cue-sound");
  const buzz = document.getElementById("cue-vibrate");
  const canBuzz = typeof navigator.vibrate === "function";
  // Rising as the breath comes in, falling as it goes out; a low note at the end.
  const PITCH = { in: 392, full: 440, out: 330, empty: 294, step: 349, end: 262 };
  let ctx = null;
  let saved = {};
  try { saved = JSON.parse(localStorage.getItem(KEY)) || {}; } catch (e) { /* none kept */ }
  const on = (box) => Boolean(box && box.checked);

  if (sound) sound.checked = saved.sound === true;
  if (buzz && canBuzz) {
    buzz.checked = saved.vibrate === true;
    document.getElementById("cue-vibrate-field").hidden = false;
  }
  for (const box of [sound, buzz]) {
    if (!box) continue;
    box.addEventListener("change", () => {
      try {
        localStorage.setItem(KEY, JSON.stringify({ sound: on(sound), vibrate: on(buzz) }));
      } catch (e) { /* storage full or off: the choice holds for this page */ }
    });
  }

  function tone(freq) {
    const t = ctx.currentTime;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = "sine";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.08, t + 0.05);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.9);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t);
    osc.stop(t + 1);
  }

  return {
    // Called from the Start press: a page may begin to play sound only after a gesture.
    start() {
      if (on(sound) && !ctx && window.AudioContext) ctx = new AudioContext();
    },
    play(kind) {
      if (ctx && on(sound)) tone(PITCH[kind] || PITCH.step);
      if (canBuzz && on(buzz)) navigator.vibrate(kind === "end" ? [60, 90, 60] : 40);
    },
  };
})();
