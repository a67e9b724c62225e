// The explorer page: the position is a path of event numbers, kept in the address (#path=2.0.1).
(function () {
  "use strict";
  var path = [];
  var busy = false;

  function $(id) { return document.getElementById(id); }
  function text(el, value) { el.textContent = value; return el; }
  function make(tag, value, cls) {
    var el = document.createElement(tag);
    if (value !== undefined) { el.textContent = value; }
    if (cls) { el.className = cls; }
    return el;
  }
  function status(message, cls) { var s = text($("status"), message); s.className = cls || ""; }

  function get(url) {
    return fetch(url).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) { throw new Error(body.error || ("HTTP " + r.status)); }
        return body;
      });
    });
  }

  function renderState(rows, nodes) {
    var table = make("table", undefined, "state");
    var head = table.createTHead().insertRow();
    head.appendChild(make("th", "variable"));
    nodes.forEach(function (n) { head.appendChild(make("th", n)); });
    var body = table.createTBody();
    rows.forEach(function (row) {
      var tr = body.insertRow();
      tr.appendChild(make("th", row.name));
      row.values.forEach(function (v, i) {
        var td = make("td", v);
        if (row.was[i] !== null) {
          td.className = "changed";
          td.title = "was " + row.was[i];
          td.appendChild(make("span", "was " + row.was[i], "was"));
        }
        tr.appendChild(td);
      });
    });
    var box = $("state");
    box.replaceChildren(table);
  }

  function render(view, spec) {
    $("where").textContent = view.path.length ? "After step " + view.path.length : "Initial state";
    var changes = $("changes");
    changes.replaceChildren.apply(changes, view.changes.map(function (c) { return make("li", c); }));
    renderState(view.state, spec.nodes);
    var net = $("network");
    if (view.network.length) {
      var ul = make("ul", undefined, "network");
      view.network.forEach(function (m) { ul.appendChild(make("li", m.src + " \u2192 " + m.dst + ": " + m.message)); });
      net.replaceChildren(ul);
    } else {
      net.replaceChildren(make("p", "no message in flight", "empty"));
    }
    var enabled = $("enabled");
    enabled.replaceChildren.apply(enabled, view.enabled.map(function (ev) {
      var li = make("li");
      var b = make("button", ev.text, ev.self_loop ? "self-loop" : "");
      b.type = "button";
      b.id = "event-" + ev.index;
      b.dataset.index = ev.index;
      b.addEventListener("click", function () { go(path.concat([ev.index])); });
      li.appendChild(b);
      return li;
    }));
    text($("error"), view.error ? view.error : (view.enabled.length ? "" : "no event is enabled: a terminal state"));
    var taken = $("history");
    taken.replaceChildren.apply(taken, view.history.map(function (h, k) {
      var li = make("li", h);
      li.title = "go back to the state after this step";
      li.addEventListener("click", function () { go(path.slice(0, k + 1)); });
      return li;
    }));
    if (view.violated.length) {
      status("Violated here: " + view.violated.map(function (v) {
        if (v.error) { return v.name + " (" + v.error + ")"; }
        var b = Object.keys(v.bindings).map(function (k) { return k + " = " + v.bindings[k]; }).join(", ");
        return "invariant " + v.name + (b ? " with " + b : "");
      }).join("; "), "bad");
    } else {
      status("Every invariant holds in this state", "good");
    }
    $("back").disabled = path.length === 0;
  }

  var spec = null;
  function go(next) {
    if (busy) { return Promise.resolve(); }
    busy = true;
    return get("/api/state?path=" + next.join(".")).then(function (view) {
      path = view.path;
      window.history.replaceState(null, "", "#path=" + path.join("."));
      $("as-trace").href = "/trace.html?path=" + path.join(".");
      render(view, spec);
      document.body.dataset.path = path.join(".");
    }).catch(function (e) { status(e.message, "bad"); }).then(function () { busy = false; });
  }

  function jump() {
    var name = $("invariant").value;
    status("searching breadth-first for the shortest path to a state violating " + name + "\u2026");
    get("/api/violation?invariant=" + encodeURIComponent(name)).then(function (r) {
      if (!r.found) { status(r.reason, "bad"); return; }
      return go(r.path).then(function () {
        status(r.line + " (" + r.length + " steps, the shortest; " + r.search.distinct_states + " states searched)", "bad");
      });
    }).catch(function (e) { status(e.message, "bad"); });
  }

  $("back").addEventListener("click", function () { go(path.slice(0, -1)); });
  $("reset").addEventListener("click", function () { go([]); });
  $("jump").addEventListener("click", jump);
  document.addEventListener("keydown", function (e) {
    if (e.key === "Backspace" || (e.key === "ArrowLeft" && e.altKey)) { e.preventDefault(); go(path.slice(0, -1)); }
  });

  get("/api/spec").then(function (s) {
    spec = s;
    document.title = "Pnyx explorer: " + s.spec;
    text($("title"), "Explorer: " + s.spec);
    var consts = Object.keys(s.constants).map(function (k) { return k + "=" + s.constants[k]; }).join(", ");
    text($("meta"), s.file + (consts ? " (" + consts + ")" : "") + " \u00b7 choose an event to take it; Back (or Backspace) undoes it");
    var sel = $("invariant");
    s.invariants.forEach(function (n) { sel.appendChild(make("option", n)); });
    $("jump").disabled = s.invariants.length === 0;
    var m = /^#path=([\d.]*)$/.exec(location.hash);
    return go(m && m[1] ? m[1].split(".").map(Number) : []);
  }).catch(function (e) { status(e.message, "bad"); });
})();
