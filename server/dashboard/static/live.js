// Live status without reloading: poll /status.json for rows still queued or running (with their place in the
// queue), poll a lab's regrade progress, show times in the viewer's own zone, count down to deadlines, show the
// upload warning of the chosen lab, and announce status changes to screen readers.
(function () {
  "use strict";
  var FINAL = { graded: true, error: true };
  var INTERVAL_MS = 1500;

  function announce(text) {
    var box = document.getElementById("announcer");
    if (box) { box.textContent = text; }
  }

  function duration(s) {
    s = Math.max(0, Math.round(s));
    if (s < 60) { return s + " s"; }
    var m = Math.round(s / 60);
    if (m < 60) { return m + " min"; }
    var h = Math.floor(m / 60); m = m % 60;
    if (h < 48) { return m ? h + " h " + m + " min" : h + " h"; }
    var d = Math.floor(h / 24); h = h % 24;
    return h ? d + " days " + h + " h" : d + " days";
  }

  function progressText(p, hadScore) {
    if (!p) { return ""; }
    var text = p.queue === "regrade" ? "Being regraded" + (hadScore ? " (the score shown stays until the new result)" : "") + ": " : "";
    if (p.status === "queued") {
      text += "number " + p.position + " in the queue, waiting " + duration(p.elapsed_s);
      if (p.estimate_s !== null) { text += "; results in about " + duration(p.estimate_s); }
    } else {
      text += "running for " + duration(p.elapsed_s);
      if (p.estimate_s !== null) { text += "; about " + duration(p.estimate_s) + " to go"; }
    }
    return text + ".";
  }

  function pending() {
    return Array.prototype.filter.call(document.querySelectorAll("[data-submission-id]"), function (el) {
      return !FINAL[el.getAttribute("data-status")];
    });
  }

  function band(score, max) {
    if (score === null || !max) { return "none"; }
    var share = score / max;
    return share >= 0.999 ? "full" : share >= 0.7 ? "high" : share >= 0.4 ? "mid" : "low";
  }

  function apply(el, item) {
    var before = el.getAttribute("data-status");
    el.setAttribute("data-status", item.status);
    var status = el.querySelector("[data-role=status]");
    if (status) { status.textContent = item.status; status.className = "status status-" + item.status; }
    var score = el.querySelector("[data-role=score]");
    if (score) { score.textContent = item.score === null ? "-" : String(Math.round(item.score * 10000) / 10000); }
    var badge = el.querySelector("[data-role=badge]");
    if (badge) { badge.className = "badge band-" + band(item.score, item.max_score); }
    var progress = el.querySelector("[data-role=progress]");
    if (progress) { progress.textContent = FINAL[item.status] ? "" : progressText(item.progress, item.score !== null); }
    if (before !== item.status) {
      announce("Submission " + item.id + " is " + item.status +
               (item.status === "graded" && item.score !== null ? ": " + item.score + " of " + item.max_score + " points" : ""));
    }
    if (FINAL[item.status] && !FINAL[before] && el.hasAttribute("data-reload-on-final")) { window.location.reload(); }
  }

  function pollStatuses() {
    var els = pending();
    if (!els.length) { return; }
    var ids = els.map(function (el) { return el.getAttribute("data-submission-id"); });
    fetch("/status.json?ids=" + ids.join(","), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) { return; }
        body.submissions.forEach(function (item) {
          els.forEach(function (el) { if (el.getAttribute("data-submission-id") === String(item.id)) { apply(el, item); } });
        });
      })
      .catch(function () { /* the next poll retries */ })
      .then(function () { window.setTimeout(pollStatuses, INTERVAL_MS); });
  }

  function pollProgress(box) {
    fetch(box.getAttribute("data-progress-url"), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        if (!p) { return; }
        var done = p.graded + p.error;
        var bar = box.querySelector("progress");
        bar.max = Math.max(p.total, 1); bar.value = done;
        box.querySelector("[data-role=progress-text]").textContent = done + " of " + p.total + " finished (" +
          p.queued + " queued, " + p.running + " running, " + p.graded + " graded, " + p.error + " error)";
        var pendingNow = p.queued + p.running;
        if (pendingNow === 0 && Number(box.getAttribute("data-pending") || "0") > 0) {
          box.querySelector("[data-role=progress-done]").hidden = false;
        }
        box.setAttribute("data-pending", String(pendingNow));
      })
      .catch(function () {})
      .then(function () { window.setTimeout(function () { pollProgress(box); }, INTERVAL_MS); });
  }

  function localTimes() {
    Array.prototype.forEach.call(document.querySelectorAll("time[data-local]"), function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) { return; }
      el.textContent = when.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", weekday: "short",
                                                        hour: "numeric", minute: "2-digit", timeZoneName: "short" });
      el.title = el.getAttribute("datetime");
    });
  }

  function countdowns() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-countdown]"), function (el) {
      var left = (new Date(el.getAttribute("data-countdown")).getTime() - Date.now()) / 1000;
      if (isNaN(left)) { return; }
      el.textContent = left > 0 ? "(" + duration(left) + " left)" : "(passed " + duration(-left) + " ago)";
    });
  }

  function uploadWarnings() {
    var select = document.getElementById("lab_id");
    if (!select) { return; }
    function show() {
      Array.prototype.forEach.call(document.querySelectorAll("[data-effect-for]"), function (el) {
        el.hidden = el.getAttribute("data-effect-for") !== select.value;
      });
    }
    select.addEventListener("change", show);
    show();
  }

  function printButtons() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
      button.hidden = false;  // without this script the browser's own Print prints the same cards
      button.addEventListener("click", function () { window.print(); });
    });
  }

  function safely(step) {
    try { step(); } catch (e) { /* one broken enhancement must not stop the others */ }
  }

  document.addEventListener("DOMContentLoaded", function () {
    safely(localTimes);
    safely(countdowns);
    window.setInterval(function () { safely(countdowns); }, 30000);
    safely(uploadWarnings);
    safely(printButtons);
    window.setTimeout(pollStatuses, INTERVAL_MS);
    var box = document.getElementById("lab-progress");
    if (box) { pollProgress(box); }
  });
})();
