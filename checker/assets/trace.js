// The counterexample page: one step selected at a time; the keyboard and clicks move it.
(function () {
  "use strict";
  var meta = JSON.parse(document.getElementById("trace-meta").textContent);
  var current = -1;

  function each(selector, fn) { Array.prototype.forEach.call(document.querySelectorAll(selector), fn); }

  function select(k) {
    k = Math.max(0, Math.min(meta.steps, k));
    if (k === current) { return; }
    current = k;
    each("#steps li", function (li) { li.classList.toggle("current", Number(li.dataset.step) === k); });
    each("svg .row, svg .dot", function (el) { el.classList.toggle("current", Number(el.dataset.step) === k); });
    each("svg .msg", function (g) {
      g.classList.toggle("active", Number(g.dataset.sent) === k || g.dataset.ended === String(k));
    });
    each(".step-detail", function (s) { s.hidden = Number(s.dataset.step) !== k; });
    var li = document.querySelector('#steps li[data-step="' + k + '"]');
    if (li && li.scrollIntoView) { li.scrollIntoView({block: "nearest"}); }
    var row = document.querySelector('svg .row[data-step="' + k + '"]');
    if (row && row.scrollIntoView) { row.scrollIntoView({block: "nearest"}); }
    if (history.replaceState) { history.replaceState(null, "", "#step-" + k); }
  }

  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) { return; }
    var moves = {ArrowDown: 1, ArrowRight: 1, j: 1, ArrowUp: -1, ArrowLeft: -1, k: -1};
    if (e.key in moves) { select(current + moves[e.key]); }
    else if (e.key === "Home") { select(0); }
    else if (e.key === "End") { select(meta.steps); }
    else { return; }
    e.preventDefault();
  });
  each("#steps li, svg .row, svg .dot", function (el) {
    el.addEventListener("click", function () { select(Number(el.dataset.step)); });
  });
  var start = /^#step-(\d+)$/.exec(location.hash);
  select(start ? Number(start[1]) : 0);
  window.pnyxTrace = {select: select, current: function () { return current; }, meta: meta};
})();
