"""Fairness in the TLA+ export: one WF_vars / SF_vars condition per event class, as the liveness
checker has them (checker/liveness.py, model/system.py's `fairness_class`).

A timer's class is one timer at one node (`Timer_t(i)`); a request's is one handler at one node
with its arguments (an action per argument tuple, `Request_h_at(i, args)`); a delivery's is one
message from one node to another (`DeliverOf(s, d, m)`, for every message of the kind: the
set must be finite); a crash's or recovery's is one node's. `Fairness` conjoins them and
`FairSpec == Spec /\\ Fairness` is the specification the liveness configuration checks. A
declaration that cannot be written this way (a message or argument type with infinitely many
values, fairness of losses or duplications) leaves the liveness configuration out, and the
module says why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pnyx.model import ir
from pnyx.model.system import Request
from pnyx.model.types import IntType, OptionType, SeqType, Type, is_finite

from .values import tla_string

if TYPE_CHECKING:
    from .module import _Builder


def section_fairness(b: _Builder, out: list[str], ops: dict[int, tuple[str, list[str]]]) -> str | None:
    """Write `Fairness` and `FairSpec` for a spec with fairness or liveness properties; the reason
    they could not be written, if so (None otherwise, or when the spec has neither)."""
    prog = b.prog
    if not prog.fairness and not any(p.kind in ir.LIVENESS for p in prog.properties):
        return None
    w = out.append
    w("\\* ---- fairness (docs/liveness.md): one condition per event class ----")
    conj: list[str] = []
    deliver_of: str | None = None
    for f in prog.fairness:
        wf = "SF_vars" if f.strong else "WF_vars"
        if f.kind in ("timer", "request"):
            for h in prog.handlers:
                if not isinstance(h, ir.OnTimer if f.kind == "timer" else ir.OnRequest) or (f.names and h.name not in f.names):
                    continue
                act = b.acts.get((f.kind, h.index))
                if act is None:
                    continue  # its budget is 0: it never happens
                if isinstance(h, ir.OnRequest):
                    cond = _request_class(b, out, h, act, ops, wf)
                    if cond is None:
                        return _refuse(w, f"the arguments of request {h.name} are not a finite set TLC can enumerate")
                    conj.append(cond)
                else:
                    conj.append(f"\\A i \\in Node : {wf}({act}(i))")
        elif f.kind in ("crash", "recover", "rebuild"):
            act = b.acts.get((f.kind, -1))
            if act is not None:
                conj.append(f"\\A i \\in Node : {wf}({act}(i))")
        elif f.kind == "deliver":
            for m in prog.messages:
                if f.names and m.name not in f.names:
                    continue
                msgs = _messages(b, m)
                if msgs is None:
                    return _refuse(w, f"the messages {m.name} are not a finite set TLC can enumerate")
                if deliver_of is None:
                    deliver_of = b.g.names.claim("DeliverOf")
                    if b.fifo:
                        body = "chan[s][d] # <<>> /\\ Head(chan[s][d]) = m /\\ Deliver(s, d)"
                    else:
                        body = "Entry(s, d, m) \\in DOMAIN net /\\ Deliver(Entry(s, d, m))"
                    w("\\* the delivery of message m from s to d: one event class")
                    w(f"{deliver_of}(s, d, m) == {body}")
                conj.append(f"\\A s, d \\in Node : \\A m \\in {msgs} : {wf}({deliver_of}(s, d, m))")
        else:
            return _refuse(w, f"fairness of {f.kind} events is not exported")
    w("Fairness ==")
    for c in conj or ["TRUE"]:
        w(f"    /\\ {c}")
    w("FairSpec == Spec /\\ Fairness")
    w("")
    return None


def _refuse(w: object, why: str) -> str:
    w(f"\\* fairness not written: {why}; the liveness properties are left out of the .cfg files")  # type: ignore[operator]
    w("")  # type: ignore[operator]
    return why


def _request_class(b: _Builder, out: list[str], h: ir.OnRequest, act: str, ops: dict[int, tuple[str, list[str]]],
                   wf: str) -> str | None:
    """A request's event class is one handler at one node with its arguments: one action per argument tuple."""
    g = b.g
    name, _ = ops[h.index]
    local = g.names.child()
    local.taken.add("i")
    args = [local.claim(p.name) for p in h.params]
    bounds = ["i \\in Node"]
    for p, a in zip(h.params, args):
        dom = enumerable(b, p.type)
        if dom is None:
            return None
        bounds.append(f"{a} \\in {dom}")
    at = g.names.claim(f"{act}_at")
    spent = Request.SPENDS
    assert spent is not None
    params = ", ".join(["i"] + args)
    out.append(f"\\* a client calls {h.name} at node i with these arguments: one event class")
    out.append(f"{at}({params}) ==")
    out.append(f"    /\\ {b.limit(spent)}")
    out.append("    /\\ up[i]")
    out.append(f"    /\\ \\E r \\in {name}({params}) : Take(i, r, {b.net}, up)")
    out.append(f"    /\\ {b.spend(spent)}")
    out.append(f"    /\\ {b.unchanged(set(b.node_vars) | {b.net, b.bvars[spent]})}")
    return f"\\A {', '.join(bounds)} : {wf}({at}({params}))"


def _messages(b: _Builder, m: ir.Message) -> str | None:
    parts = [f"{b.g.tag} : {{{tla_string(m.name)}}}"]
    for f, t in m.fields:
        dom = enumerable(b, t)
        if dom is None:
            return None
        parts.append(f"{b.g.values.field(f)} : {dom}")
    return "[" + ", ".join(parts) + "]"


def enumerable(b: _Builder, t: Type) -> str | None:
    """A set of every value of t that TLC can enumerate (a bounded sequence as functions on 1..k),
    or None for a type with infinitely many values."""
    if not is_finite(t):
        return None
    if isinstance(t, IntType):
        return f"{t.lo}..{t.hi}"
    if isinstance(t, SeqType):
        elem = enumerable(b, t.elem)
        return None if elem is None else f"UNION {{[1..k -> {elem}] : k \\in 0..{t.bound}}}"
    if isinstance(t, OptionType):
        elem = enumerable(b, t.elem)
        return None if elem is None else f"({{<<>>}} \\cup {{<<x>> : x \\in {elem}}})"
    return b.g.values.set_of(t)
