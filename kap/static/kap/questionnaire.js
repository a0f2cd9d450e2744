/* Questionnaires on a phone: one question per screen, as progressive enhancement.

   Without JavaScript, or on a wider screen, the form is the whole list of questions and works as
   it always has. On a narrow screen, a form marked data-one-per-screen shows one question (one
   fieldset) at a time, with Back and Next, "Question 3 of 9" and a bar; focus moves to the new
   question's legend. Every answer stays in the one form (the other questions are only hidden),
   so Submit sends them all and drafts.js keeps saving as before.

   Any page: a link of the error summary ("There is a problem") shows its question and moves the
   focus to its first control, with the question's legend in view (GOV.UK's error summary). */
(function () {
  "use strict";
  const T = window.KapT; // the words in the page's language (kap/static/kap/strings.js)
  var NARROW = "(max-width: 40rem)";
  var reduced = window.matchMedia("(prefers-reduced-motion: reduce)");
  var summary = document.querySelector("[data-error-summary]");
  var form = document.querySelector("form[data-one-per-screen]");
  var steps = form ? Array.prototype.slice.call(form.querySelectorAll("fieldset.question")) : [];
  var stepper = steps.length > 1 ? makeStepper() : null;

  if (summary) {
    summary.addEventListener("click", function (evt) {
      var link = evt.target.closest("a[href^='#']");
      var target = link && document.getElementById(decodeURIComponent(link.hash.slice(1)));
      if (!target) return;
      evt.preventDefault();
      goTo(target);
    });
    summary.focus();
  }

  // Show the question that holds `control`, its legend in view, and focus the control.
  function goTo(control) {
    var question = control.closest("fieldset");
    if (stepper && question) stepper.showStepOf(question, false);
    var legend = question && question.querySelector("legend");
    (legend || control).scrollIntoView({ block: "start", behavior: reduced.matches ? "auto" : "smooth" });
    control.focus({ preventScroll: true });
  }

  function makeStepper() {
    var narrow = window.matchMedia(NARROW);
    var submit = form.querySelector(".q-submit");
    var actions = submit ? submit.parentNode : null;
    var current = 0;
    var on = false;

    var progress = document.createElement("div");
    progress.className = "q-progress";
    progress.hidden = true;
    var said = document.createElement("p");
    said.id = "q-progress-text";
    said.setAttribute("aria-live", "polite");
    var bar = document.createElement("div");
    bar.className = "q-bar";
    bar.setAttribute("aria-hidden", "true");
    var fill = document.createElement("span");
    bar.appendChild(fill);
    progress.appendChild(said);
    progress.appendChild(bar);
    var prompt = form.querySelector(".prompt");
    form.insertBefore(progress, prompt || steps[0]);

    var nav = document.createElement("div");
    nav.className = "q-nav";
    nav.hidden = true;
    var back = button(T("back", "Back"), "secondary q-back");
    var next = button(T("next", "Next"), "q-next");
    nav.appendChild(back);
    nav.appendChild(next);
    var last = steps[steps.length - 1];
    last.parentNode.insertBefore(nav, last.nextSibling);

    function button(text, cls) {
      var b = document.createElement("button");
      b.type = "button";
      b.className = cls;
      b.textContent = text;
      return b;
    }

    back.addEventListener("click", function () { show(current - 1, true); });
    next.addEventListener("click", function () { show(current + 1, true); });
    // Enter on a radio or a one-line field goes to the next question, as a phone's keyboard
    // "Go" would; on the last one it submits the form, as without the stepper.
    form.addEventListener("keydown", function (evt) {
      if (!on || evt.key !== "Enter" || evt.isComposing) return;
      var el = evt.target;
      if (el.tagName !== "INPUT" || current >= steps.length - 1) return;
      evt.preventDefault();
      show(current + 1, true);
    });

    function show(index, moveFocus) {
      current = Math.max(0, Math.min(steps.length - 1, index));
      steps.forEach(function (step, i) { step.hidden = i !== current; });
      var isLast = current === steps.length - 1;
      back.hidden = current === 0;
      next.hidden = isLast;
      if (submit) submit.hidden = !isLast;
      said.textContent = T("question_of", "Question {n} of {total}", { n: current + 1, total: steps.length });
      fill.style.transform = "scaleX(" + (current + 1) / steps.length + ")";
      if (moveFocus) {
        progress.scrollIntoView({ block: "start", behavior: reduced.matches ? "auto" : "smooth" });
        var legend = steps[current].querySelector("legend");
        legend.setAttribute("tabindex", "-1");
        legend.focus({ preventScroll: true });
      }
    }

    function enable() {
      on = true;
      form.classList.add("one-per-screen");
      progress.hidden = false;
      nav.hidden = false;
      if (submit) nav.appendChild(submit);
      if (actions) actions.hidden = true;
      // Start at the first question that needs another look, if the form came back with any.
      var first = steps.findIndex(function (s) { return s.classList.contains("has-error"); });
      show(first === -1 ? current : first, false);
    }

    function disable() {
      on = false;
      form.classList.remove("one-per-screen");
      progress.hidden = true;
      nav.hidden = true;
      steps.forEach(function (step) { step.hidden = false; });
      if (submit && actions) {
        submit.hidden = false;
        actions.appendChild(submit);
        actions.hidden = false;
      }
    }

    function follow() { if (narrow.matches) enable(); else if (on) disable(); }
    if (narrow.addEventListener) narrow.addEventListener("change", follow);
    follow();

    return {
      showStepOf: function (question, moveFocus) {
        var i = steps.indexOf(question);
        if (on && i !== -1) show(i, moveFocus);
      },
    };
  }
})();
