// Live status without reloading: poll /status.json for rows still queued or running; poll a lab's regrade progress.
(function () {
  "use strict";
  var FINAL = { graded: true, error: true };
  var INTERVAL_MS = 1500;

  function pending() {
    return Array.prototype.filter.call(document.querySelectorAll("[data-submission-id]"), function (el) {
      return !FINAL[el.getAttribute("data-status")];
    });
  }

  function apply(el, item) {
    var before = el.getAttribute("data-status");
    el.setAttribute("data-status", item.status);
    var status = el.querySelector("[data-role=status]");
    if (status) { status.textContent = item.status; status.className = "status status-" + item.status; }
    var score = el.querySelector("[data-role=score]");
    if (score) { score.textContent = item.score === null ? "-" : String(Math.round(item.score * 10000) / 10000); }
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

  document.addEventListener("DOMContentLoaded", function () {
    window.setTimeout(pollStatuses, INTERVAL_MS);
    var box = document.getElementById("lab-progress");
    if (box) { pollProgress(box); }
  });
})();
