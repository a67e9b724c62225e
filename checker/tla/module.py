"""Assemble the TLA+ module and TLC configurations for a checked spec.

The module is written from the spec's core IR (model/ir.py). Its state is Pnyx's global state
(checker/model.py) variable for variable: one function ``Node -> value`` per node variable,
``up``, the network (``chan`` for `fifo`, the bag ``net`` for `unordered`), and one counter per
budget in use. Each event kind of the catalogue (model/system.py: `EVENTS`, in its order, and
the budget each kind `SPENDS`) is one action, with the same enabling conditions and effects, so
TLC's distinct states are those of ``pnyx check --no-symmetry``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pnyx.model import ir
from pnyx.model.system import EVENTS, Crash, Deliver, Duplicate, Lose, Rebuild, Recover, Request, Timer
from pnyx.model.typecheck import BUDGETS, Checked
from pnyx.model.types import default

from .fairness import section_fairness
from .handlers import ExprWriter, Globals, HandlerWriter, lets
from .names import Names, identifiers
from .prelude import COMMON, FIFO_CAN_SEND, UNBOUNDED_CAN_SEND, UNORDERED_CAN_SEND, network
from .values import Orders, Values, const_text, tla_string

# One counter and one bound per built-in budget (nCrashes < MaxCrashes), named after the budget.
BUDGET_VARS = {b: "n" + b.capitalize() for b in BUDGETS}
BUDGET_CONSTS = {b: "Max" + b.capitalize() for b in BUDGETS}


@dataclass(frozen=True)
class TlaExport:
    """The exported files' contents; `reach_cfg` is None when the spec has no `reachable` property."""

    module: str  # the module name, also the file stem
    tla: str
    cfg: str
    reach_cfg: str | None
    live_cfg: str | None = None  # the liveness properties under the spec's fairness (SPECIFICATION FairSpec)


def _module_name(spec_name: str) -> str:
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in spec_name)
    return name if name and not name[0].isdigit() else "M_" + name


def _line(text: str) -> str:
    return " ".join(text.split())


class _Builder:
    def __init__(self, prog: ir.Program, origin: str) -> None:
        self.prog = prog
        self.origin = origin
        self.fifo = prog.network == "fifo"
        self.budget = {b.name: b for b in prog.budget}  # in the state's budget layout
        if prog.capacity is None:
            can_send = UNBOUNDED_CAN_SEND
        else:
            can_send = FIFO_CAN_SEND if self.fifo else UNORDERED_CAN_SEND
        prelude = COMMON + network(self.fifo) + can_send
        self.defined = {"Node", "Init", "Next", "Spec", "vars", "TypeOK", "Env", "Take", "Handle", "Deliver",
                        "Crash", "Recover", "Rebuild", "Lose", "Duplicate", "CAPACITY", "up", "chan", "net", "NoMessages",
                        "Disconnect", "IsDisconnect"}
        for line in prelude.splitlines():
            head = line.split("==")[0].strip()
            if "==" in line and head and not line.startswith((" ", "\\*")):
                self.defined.add(head.split("(")[0])
        self.defined |= set(BUDGET_VARS.values()) | set(BUDGET_CONSTS.values())
        # user globals avoid every identifier of the prelude (its parameters included)
        self.g_names = Names(self.defined | identifiers(prelude))
        self.prelude = prelude
        self.bvars = dict(BUDGET_VARS)
        self.bconsts = dict(BUDGET_CONSTS)

    def build(self) -> TlaExport:
        prog = self.prog
        names = self.g_names
        consts = {c.name: names.claim(c.name) for c in prog.consts}
        tnames = {td.name: names.claim(td.name) for td in prog.type_decls}
        tnames["Node"] = "Node"
        vars_ = {v.name: names.claim(v.name) for v in prog.vars}
        props = {p.name: names.claim(p.name) for p in prog.properties}
        defs = {d.index: names.claim(d.name) for d in prog.definitions}
        roles = {r.name: names.claim(r.name) for r in prog.roles}
        for item in self.budget:  # budgets that timers spend (`on timer t spends NAME`)
            if item not in BUDGET_VARS:
                self.bvars[item] = names.claim(f"n_{item}")
                self.bconsts[item] = names.claim(f"Max_{item}")
        # from here on, operator definitions: locals avoid the globals, not the prelude's parameters
        glob = Names(set(self.defined) | set(consts.values()) | set(tnames.values()) | set(vars_.values())
                     | set(props.values()) | set(self.bvars.values()) | set(self.bconsts.values())
                     | set(defs.values()) | set(roles.values()))
        values = Values(tnames, glob)
        orders = Orders(values, glob)
        field_names = {f for m in prog.messages for f, _ in m.fields}
        tag = next(t for t in ("kind", "kind_", "kind__", "msgkind") if t not in field_names)
        sends = next(s for s in ("sends", "sends_", "outbox", "outbox_") if s not in vars_.values())
        g = Globals(prog, glob, values, orders, consts, vars_, tag, sends, defs, roles)
        self.g = g
        out: list[str] = []
        w = out.append
        w(f"---- MODULE {_module_name(prog.name)} ----")
        w(f"\\* Generated by `pnyx export --tla` from {self.origin} (spec {prog.name}); do not edit.")
        w("\\* The state graph is the one `pnyx check --no-symmetry` explores at these constants:")
        w("\\* see docs/tla.md for the correspondence.")
        w("EXTENDS Integers, Sequences, FiniteSets, TLC")
        w("")
        w("\\* ---- constants (fixed at export; re-export with -D NAME=VALUE to change) ----")
        for c in prog.consts:
            val = ("TRUE" if c.value else "FALSE") if isinstance(c.value, bool) else str(c.value)
            w(f"{consts[c.name]} == {val}  \\* line {c.span.line}")
        assert prog.nodes_count is not None
        count = const_text(prog.nodes_count, consts)
        w(f"Node == 1..{count}  \\* node ids: n1..nN in Pnyx's traces are 1..N here (line {prog.nodes_count.span.line})")
        for r in prog.roles:
            w(f"{roles[r.name]} == {r.first + 1}..{r.first + r.count}  \\* role {r.name} (line {r.span.line})")
        for b in prog.budget:
            if b.value > 0:
                text = const_text(b.amount, consts) if b.amount is not None else str(b.value)
                w(f"{self.bconsts[b.name]} == {text}  \\* budget: {b.name}")
        if prog.capacity_expr is not None:
            w(f"CAPACITY == {const_text(prog.capacity_expr, consts)}  \\* messages per channel")
        w("")
        w("\\* `disconnect d` in a handler: an entry <<d, Disconnect>> among its sends")
        w(f'Disconnect == [{tag} |-> "(disconnect)"]')
        w(f'IsDisconnect(m) == m.{tag} = "(disconnect)"')
        w(self.prelude)
        # types after the prelude: a bounded sequence type is written with its BSeq
        if prog.type_decls:
            w("\\* ---- types ----")
        for td in prog.type_decls:
            tset = values.set_of_declared(td.declared, consts, by_name=False)
            w(f"{tnames[td.name]} == {tset}  \\* line {td.span.line}")

        # operators that need translation: written first, placed after the orders they use
        body: list[str] = []
        self.section_definitions(body)
        self.section_state(body, values)
        handler_ops = self.section_handlers(body)
        self.section_network_step(body, handler_ops)
        self.acts: dict[tuple[str, int], str] = {}  # (event kind, handler index or -1) -> its action
        self.section_actions(body, handler_ops)
        self.live_refused = section_fairness(self, body, handler_ops)
        self.section_properties(body, props)
        if orders.defs:
            w("\\* ---- orders on values, as Python compares them ----")
            w("\n".join(orders.defs))
            w("")
        out += body
        w("====")
        tla = "\n".join(out) + "\n"

        invs = ["TypeOK"] + [props[p.name] for p in prog.properties if p.kind == "invariant"]
        cfg_head = [f"\\* TLC configuration for {_module_name(prog.name)}.tla, exported by pnyx from {self.origin}",
                    "INIT Init", "NEXT Next", "CHECK_DEADLOCK FALSE"]
        cfg = "\n".join(cfg_head + [f"INVARIANT {i}" for i in invs]) + "\n"
        reach = [p for p in prog.properties if p.kind == "reachable"]
        reach_cfg = None
        if reach:
            reach_cfg = "\n".join(
                cfg_head[:1]
                + ["\\* `reachable` properties, negated: TLC reports each one reached as an invariant violation",
                   "\\* (run TLC with -continue to go on after the first)"]
                + cfg_head[1:] + [f"INVARIANT Unreached_{props[p.name]}" for p in reach]) + "\n"
        live = [p for p in prog.properties if p.kind in ir.LIVENESS]
        live_cfg = None
        if live and self.live_refused is None:
            live_cfg = "\n".join(
                cfg_head[:1] + ["\\* the liveness properties under the spec's fairness (docs/liveness.md)",
                                "SPECIFICATION FairSpec", "CHECK_DEADLOCK FALSE"]
                + [f"PROPERTY {props[p.name]}" for p in live]) + "\n"
        return TlaExport(_module_name(prog.name), tla, cfg, reach_cfg, live_cfg)

    # ---- definitions -----------------------------------------------------
    def section_definitions(self, out: list[str]) -> None:
        """One operator per `def`, in source order (a body applies only earlier ones)."""
        g = self.g
        if not self.prog.definitions:
            return
        out.append("")
        out.append("\\* ---- definitions ----")
        for d in self.prog.definitions:
            tr = ExprWriter(g)
            params = [tr.bind(p.name) for p in d.params]
            head = f"{g.defs[d.index]}({', '.join(params)})" if params else g.defs[d.index]
            out.append(f"{head} == {tr.x(d.body)}  \\* def {d.name}, line {d.span.line}")

    # ---- state -----------------------------------------------------------
    def section_state(self, out: list[str], values: Values) -> None:
        prog, g = self.prog, self.g
        w = out.append
        net = "chan" if self.fifo else "net"
        budget_vars = [self.bvars[b.name] for b in prog.budget if b.value > 0]
        self.net = net
        self.budget_vars = budget_vars
        self.node_vars = [g.vars[v.name] for v in prog.vars]
        w("")
        w("\\* ---- state: Pnyx's global state (NS, UP, NET, BUDGET) ----")
        w("VARIABLES")
        rows = []
        for v in prog.vars:
            rows.append((g.vars[v.name], f"{v.storage} {v.name}: {v.type}, per node (line {v.span.line})"))
        rows.append(("up", "up[n]: node n is running"))
        if self.fifo:
            rows.append(("chan", "chan[s][d]: the FIFO channel from s to d, a sequence of messages"))
        else:
            rows.append(("net", "the in-flight messages: a bag of [src, dst, msg]"))
        for b in budget_vars:
            rows.append((b, "budget used so far"))
        for i, (name, comment) in enumerate(rows):
            w(f"    {name}{',' if i < len(rows) - 1 else ''}  \\* {comment}")
        all_vars = [r[0] for r in rows]
        self.all_vars = all_vars
        w(f"vars == <<{', '.join(all_vars)}>>")
        w("")
        w("\\* ---- initial state ----")
        for v in prog.vars:
            tr = ExprWriter(g)
            me = tr.local.claim("self")
            tr.scopes[0]["self"] = me
            init = tr.x(v.init) if v.init is not None else values.lit(default(v.type), v.type)
            w(f"Init_{g.vars[v.name]}({me}) == {init}")
        w("Init ==")
        for v in prog.vars:
            name = g.vars[v.name]
            w(f"    /\\ {name} = [i \\in Node |-> Init_{name}(i)]")
        w("    /\\ up = [i \\in Node |-> TRUE]")
        w(f"    /\\ {net} = NoMessages")
        for b in budget_vars:
            w(f"    /\\ {b} = 0")
        w("")
        w("\\* every variable keeps to its declared type (Pnyx stops with an error when an assignment leaves it)")
        w("TypeOK ==")
        for v in prog.vars:
            assert v.declared is not None
            tset = values.set_of_declared(v.declared, g.consts)
            w(f"    /\\ \\A i \\in Node : {g.vars[v.name]}[i] \\in {tset}")
        w("    /\\ up \\in [Node -> BOOLEAN]")
        w("")
        fields = [f"{g.vars[v.name]} |-> {g.vars[v.name]}[i]" for v in prog.vars] + [f"{g.sends} |-> <<>>"]
        w("\\* the environment a handler starts from: node i's variables, and no message sent yet")
        w(f"Env(i) == [{', '.join(fields)}]")

    # ---- handlers --------------------------------------------------------
    def section_handlers(self, out: list[str]) -> dict[int, tuple[str, list[str]]]:
        """One operator per handler: the set of its outcomes (empty when disabled)."""
        g = self.g
        w = out.append
        ops: dict[int, tuple[str, list[str]]] = {}
        w("")
        w("\\* ---- handlers: each is the set of its outcomes, environments [variables, sends] ----")
        for h in self.prog.handlers:
            local = g.names.child()
            let_names = lets(h.body)
            fields = {n: local.claim(n) for n in let_names}
            for n in let_names:  # a let field must not be mistaken for a variable
                if fields[n] in g.vars.values() or fields[n] == g.sends:
                    fields[n] = local.claim(n + "_")
            tr = HandlerWriter(g, local, fields, h.body)
            me = tr.bind("self")
            params = [me]
            match h:
                case ir.OnMessage():
                    params.append(tr.bind(h.sender) if h.sender else local.claim("src"))
                    params += [tr.bind(b) if b != "_" else local.claim("unused") for b in h.binders]
                    name = f"On_{h.message}"
                    head = f"on {h.message}({', '.join(h.binders)})" + (f" from {h.sender}" if h.sender else "")
                case ir.OnTimer():
                    name, head = f"On_timer_{h.name}", f"on timer {h.name}"
                case ir.OnRequest():
                    params += [tr.bind(p.name) for p in h.params]
                    name, head = f"On_request_{h.name}", f"on request {h.name}"
                case ir.OnRecover():
                    name, head = "On_recover", "on recover"
                case ir.OnRebuild():
                    name, head = "On_rebuild", "on rebuild"
                case _:  # pragma: no cover
                    raise tr.unsupported(h)
            name = g.names.claim(name)
            e0 = tr.fresh()
            tr.env = e0
            if isinstance(h, ir.OnRebuild):  # it starts from the state the lost disk leaves: ghosts only kept
                now = [f"{g.vars[v.name]} |-> " + (f"{g.vars[v.name]}[{me}]" if v.storage == "ghost"
                                                   else f"Init_{g.vars[v.name]}({me})") for v in self.prog.vars]
                extra = "".join(f", {f} |-> 0" for f in fields.values())
                start = f"[{', '.join(now)}, {g.sends} |-> <<>>{extra}]"
            elif fields:
                extra = ", ".join(f"{f} |-> 0" for f in fields.values())
                start = f"[{', '.join(f'{x} |-> {x}[{me}]' for x in g.vars.values())}, {g.sends} |-> <<>>, {extra}]"
            else:
                start = f"Env({me})"
            guard = tr.x(h.guard) if h.guard is not None else None
            res = tr.block(h.body, e0, " " * (13 if guard is not None else 8))
            body = tr.as_set(res)
            w(f"\\* {head}  (line {h.span.line})")
            w(f"{name}({', '.join(params)}) ==")
            w(f"    LET {e0} == {start}")
            if guard is not None:
                w(f"    IN  IF {guard}")
                w(f"        THEN {body}")
                w("        ELSE {}")
            else:
                w(f"    IN  {body}")
            w("")
            ops[h.index] = (name, params)
        return ops

    def section_network_step(self, out: list[str], ops: dict[int, tuple[str, list[str]]]) -> None:
        prog, g = self.prog, self.g
        w = out.append
        w("\\* ---- one step of node i: outcome r of a handler, from network n with nodes u up ----")
        w("\\* (a step whose sends would overflow a bounded channel is not enabled)")
        w("Take(i, r, n, u) ==")
        w(f"    /\\ CanSend(n, i, r.{g.sends}, u)")
        for x in self.node_vars:
            w(f"    /\\ {x}' = [{x} EXCEPT ![i] = r.{x}]")
        w(f"    /\\ {self.net}' = Sent(n, i, r.{g.sends}, u)")
        w("")
        w("\\* every outcome of the handlers of message m delivered to i from src")
        w("Handle(i, src, m) ==")
        arms = []
        for msg in prog.messages:
            calls = []
            for h in prog.handlers:
                if isinstance(h, ir.OnMessage) and h.message_id == msg.id:
                    name, _ = ops[h.index]
                    args = ["i", "src"] + [f"m.{g.values.field(f)}" for f, _ in msg.fields]
                    calls.append(f"{name}({', '.join(args)})")
            if calls:
                union = " \\cup ".join(calls)
                arms.append(f"m.{g.tag} = {tla_string(msg.name)} -> {union}")
        if arms:
            w("    CASE " + "\n      [] ".join(arms) + "\n      [] OTHER -> {}")
        else:
            w("    {}")
        w("")

    def unchanged(self, changed: set[str]) -> str:
        rest = [v for v in self.all_vars if v not in changed]
        return f"UNCHANGED <<{', '.join(rest)}>>" if rest else "TRUE"

    def given(self, budget: str | None) -> bool:
        """Whether events that spend `budget` can happen at all (None: they spend none)."""
        return budget is None or self.budget[budget].value > 0

    def limit(self, budget: str) -> str:
        """The enabling condition of an event that spends `budget`."""
        return f"{self.bvars[budget]} < {self.bconsts[budget]}"

    def spend(self, budget: str) -> str:
        """The budget counter after one more such event."""
        return f"{self.bvars[budget]}' = {self.bvars[budget]} + 1"

    def section_actions(self, out: list[str], ops: dict[int, tuple[str, list[str]]]) -> None:
        """One action per event kind of the catalogue (pnyx.model.system.EVENTS), in its order, per
        handler for timers and requests; an event whose budget (its kind's `SPENDS`, a timer's
        own `spends`) is 0 never happens and gets no action."""
        prog, g = self.prog, self.g
        w = out.append
        net = self.net
        step_vars = set(self.node_vars) | {net}
        nexts: list[str] = []

        def deliver() -> None:
            if self.fifo:
                w("\\* deliver the message at the head of the channel from s to d")
                w("Deliver(s, d) ==")
                w("    /\\ chan[s][d] # <<>>")
                w("    /\\ LET m == Head(chan[s][d])")
                w("           rest == [chan EXCEPT ![s][d] = Tail(@)]")
                w("           outcomes == Handle(d, s, m)")
                w("       IN  IF outcomes = {}")
                w("           THEN \\* no handler is enabled: the message is consumed and dropped")
                w("                /\\ chan' = rest")
                w(f"                /\\ {self.unchanged({'chan'})}")
                w("           ELSE /\\ \\E r \\in outcomes : Take(d, r, rest, up)")
                w(f"                /\\ {self.unchanged(step_vars)}")
                nexts.append("\\E s, d \\in Node : Deliver(s, d)")
            else:
                w("\\* deliver one in-flight message x (any of them: the network is unordered)")
                w("Deliver(x) ==")
                w("    LET rest == BagRemove(net, x)")
                w("        outcomes == Handle(x.dst, x.src, x.msg)")
                w("    IN  IF outcomes = {}")
                w("        THEN \\* no handler is enabled: the message is consumed and dropped")
                w("             /\\ net' = rest")
                w(f"             /\\ {self.unchanged({'net'})}")
                w("        ELSE /\\ \\E r \\in outcomes : Take(x.dst, r, rest, up)")
                w(f"             /\\ {self.unchanged(step_vars)}")
                nexts.append("\\E x \\in DOMAIN net : Deliver(x)")
            w("")

        def timers() -> None:
            for h in prog.handlers:
                if isinstance(h, ir.OnTimer) and self.given(h.spends):  # Timer.SPENDS: the handler's own
                    timer(h)

        def timer(h: ir.OnTimer) -> None:
            name, _ = ops[h.index]
            spends = h.spends
            act = g.names.claim(f"Timer_{h.name}")
            self.acts[("timer", h.index)] = act
            w(f"\\* timer {h.name} fires at node i (line {h.span.line}); time is abstract: any enabled timer may fire")
            w(f"{act}(i) ==")
            if spends is not None:
                w(f"    /\\ {self.limit(spends)}  \\* each firing spends the {spends} budget")
            w("    /\\ up[i]")
            w(f"    /\\ \\E r \\in {name}(i) : Take(i, r, {net}, up)")
            if spends is not None:
                w(f"    /\\ {self.spend(spends)}")
                w(f"    /\\ {self.unchanged(step_vars | {self.bvars[spends]})}")
            else:
                w(f"    /\\ {self.unchanged(step_vars)}")
            w("")
            nexts.append(f"\\E i \\in Node : {act}(i)")

        def requests() -> None:
            spent = Request.SPENDS
            assert spent is not None
            if not self.given(spent):
                return
            for h in prog.handlers:
                if isinstance(h, ir.OnRequest):
                    request(h, spent)

        def request(h: ir.OnRequest, spent: str) -> None:
            name, _ = ops[h.index]
            act = g.names.claim(f"Request_{h.name}")
            self.acts[("request", h.index)] = act
            local = g.names.child()
            local.taken.add("i")
            args = [local.claim(p.name) for p in h.params]
            w(f"\\* a client calls {h.name} at node i (line {h.span.line})")
            w(f"{act}(i) ==")
            w(f"    /\\ {self.limit(spent)}")
            w("    /\\ up[i]")
            choice = "\\E r \\in " + f"{name}({', '.join(['i'] + args)}) : Take(i, r, {net}, up)"
            for p, a in reversed(list(zip(h.params, args))):
                assert p.declared is not None
                choice = f"\\E {a} \\in {g.values.set_of_declared(p.declared, g.consts)} : {choice}"
            w(f"    /\\ {choice}")
            w(f"    /\\ {self.spend(spent)}")
            w(f"    /\\ {self.unchanged(step_vars | {self.bvars[spent]})}")
            w("")
            nexts.append(f"\\E i \\in Node : {act}(i)")

        def crash() -> None:
            spent = Crash.SPENDS
            assert spent is not None
            if not self.given(spent):
                return
            vol = [v for v in prog.vars if v.storage == "volatile"]
            w("\\* node i crashes: volatile variables return to their initial values; persistent and ghost ones stay")
            w("Crash(i) ==")
            w(f"    /\\ {self.limit(spent)}")
            w("    /\\ up[i]")
            w("    /\\ up' = [up EXCEPT ![i] = FALSE]")
            for v in vol:
                x = g.vars[v.name]
                w(f"    /\\ {x}' = [{x} EXCEPT ![i] = Init_{x}(i)]")
            w(f"    /\\ {net}' = Cut({net}, i)")
            w(f"    /\\ {self.spend(spent)}")
            w(f"    /\\ {self.unchanged({g.vars[v.name] for v in vol} | {'up', net, self.bvars[spent]})}")
            w("")
            nexts.append("\\E i \\in Node : Crash(i)")
            self.acts[("crash", -1)] = "Crash"

        def recover() -> None:
            if not self.given(Crash.SPENDS):
                return  # no node ever goes down
            rec = next((h.index for h in prog.handlers if isinstance(h, ir.OnRecover)), None)
            w("\\* node i restarts" + (" and runs its `on recover` handler" if rec is not None else ""))
            w("Recover(i) ==")
            w("    /\\ ~up[i]")
            w("    /\\ up' = [up EXCEPT ![i] = TRUE]")
            if rec is not None:
                w(f"    /\\ \\E r \\in {ops[rec][0]}(i) : Take(i, r, {net}, [up EXCEPT ![i] = TRUE])")
                w(f"    /\\ {self.unchanged(step_vars | {'up'})}")
            else:
                w(f"    /\\ {self.unchanged({'up'})}")
            w("")
            nexts.append("\\E i \\in Node : Recover(i)")
            self.acts[("recover", -1)] = "Recover"

        def rebuild() -> None:
            spent = Rebuild.SPENDS
            assert spent is not None
            if not self.given(Crash.SPENDS) or spent not in self.budget or not self.given(spent):
                return  # no node ever goes down, or none ever loses its disk
            h = next((h.index for h in prog.handlers if isinstance(h, ir.OnRebuild)), None)
            w("\\* node i restarts with its disk lost: persistent and volatile variables at their initial values"
              + (", then its `on rebuild` handler runs" if h is not None else ""))
            w("Rebuild(i) ==")
            w(f"    /\\ {self.limit(spent)}")
            w("    /\\ ~up[i]")
            w("    /\\ up' = [up EXCEPT ![i] = TRUE]")
            if h is not None:
                w(f"    /\\ \\E r \\in {ops[h][0]}(i) : Take(i, r, {net}, [up EXCEPT ![i] = TRUE])")
                changed = step_vars | {"up", self.bvars[spent]}
            else:
                lost = [g.vars[v.name] for v in prog.vars if v.storage != "ghost"]
                for x in lost:
                    w(f"    /\\ {x}' = [{x} EXCEPT ![i] = Init_{x}(i)]")
                changed = set(lost) | {"up", self.bvars[spent]}
            w(f"    /\\ {self.spend(spent)}")
            w(f"    /\\ {self.unchanged(changed)}")
            w("")
            nexts.append("\\E i \\in Node : Rebuild(i)")
            self.acts[("rebuild", -1)] = "Rebuild"

        def lose() -> None:
            spent = Lose.SPENDS
            assert spent is not None
            if not self.given(spent):
                return
            if self.fifo:
                w("\\* the network loses the k-th message of the channel from s to d")
                w("Lose(s, d) ==")
                w(f"    /\\ {self.limit(spent)}")
                w("    /\\ \\E k \\in 1..Len(chan[s][d]) : chan' = [chan EXCEPT ![s][d] = RemoveAt(@, k)]")
                nexts.append("\\E s, d \\in Node : Lose(s, d)")
            else:
                w("\\* the network loses one copy of in-flight message x")
                w("Lose(x) ==")
                w(f"    /\\ {self.limit(spent)}")
                w("    /\\ net' = BagRemove(net, x)")
                nexts.append("\\E x \\in DOMAIN net : Lose(x)")
            w(f"    /\\ {self.spend(spent)}")
            w(f"    /\\ {self.unchanged({net, self.bvars[spent]})}")
            w("")

        def duplicate() -> None:
            spent = Duplicate.SPENDS
            assert spent is not None
            if self.fifo or not self.given(spent):
                return  # a TCP stream never duplicates
            w("\\* the network duplicates in-flight message x")
            w("Duplicate(x) ==")
            w(f"    /\\ {self.limit(spent)}")
            if prog.capacity is not None:
                w("    /\\ InFlight(net, x.src, x.dst) < CAPACITY")
            w("    /\\ net' = BagAdd(net, x)")
            w(f"    /\\ {self.spend(spent)}")
            w(f"    /\\ {self.unchanged({'net', self.bvars[spent]})}")
            w("")
            nexts.append("\\E x \\in DOMAIN net : Duplicate(x)")

        writers: dict[type, Callable[[], None]] = {Deliver: deliver, Timer: timers, Request: requests, Crash: crash,
                                                   Recover: recover, Rebuild: rebuild, Lose: lose,
                                                   Duplicate: duplicate}
        missing = [c.KIND for c in EVENTS if c not in writers]
        if missing:
            raise AssertionError(f"the TLA+ export has no action for the event kind(s) {', '.join(missing)}")
        w("\\* ---- actions: one per kind of event ----")
        for kind in EVENTS:
            writers[kind]()
        w("Next ==")
        for n in nexts:
            w(f"    \\/ {n}")
        w("")
        w("Spec == Init /\\ [][Next]_vars")
        w("")

    def section_properties(self, out: list[str], props: dict[str, str]) -> None:
        prog, g = self.prog, self.g
        w = out.append
        if not prog.properties:
            return
        w("\\* ---- properties ----")
        for p in prog.properties:
            tr = ExprWriter(g)
            w(f"\\* {p.kind} {p.name}  (line {p.span.line})")
            expr = tr.x(p.expr)
            match p.kind:
                case "eventually":
                    formula = f"<>{Values.wrap(expr)}"
                case "infinitely":
                    formula = f"[]<>{Values.wrap(expr)}"
                case "leadsto":
                    assert p.target is not None
                    formula = f"{Values.wrap(expr)} ~> {Values.wrap(tr.x(p.target))}"
                case _:
                    formula = expr
            if p.kind in ir.LIVENESS and self.live_refused is None:
                w("\\* (a property of behaviours, under FairSpec: the _liveness.cfg lists it, as `pnyx check --liveness`)")
            elif p.kind in ir.LIVENESS:
                w(f"\\* (a property of behaviours, not in any .cfg: {self.live_refused})")
            w(f"{props[p.name]} == {formula}")
            if p.kind == "reachable":
                w(f"Unreached_{props[p.name]} == ~{props[p.name]}  \\* a violation of this invariant reaches {p.name}")
        w("")


def export(ct: Checked, origin: str | None = None) -> TlaExport:
    """Translate a type-checked spec (at its constants) into a TLA+ module and TLC configurations."""
    return _Builder(ct.core, origin or ct.spec.filename).build()
