"""Lower a checked spec to the core IR (model/ir.py): the one place that reads the type checker's
side tables (`refs`, `expr_types`, `refs_choice`) to resolve names, order fields and number
`choose` sites, so no back end re-derives them.

Run through `Checked.core`, once per checked spec.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from . import ast as A
from . import ir
from .types import BOOL, INT, IntType, MapType, NodeType, OptionType, RecordType, SeqType, SetType, TupleType, Type

if TYPE_CHECKING:
    from .typecheck import Checked, DefInfo

_C = TypeVar("_C", ir.ChooseOne, ir.ChooseSubset)


def lower(ct: Checked) -> ir.Program:
    """The core IR of a checked spec."""
    return _Lowering(ct).program()


def _table(cls: type, prefix: str) -> dict[type, Callable[..., Any]]:
    """Methods `<prefix><AstClass>` of cls, keyed by the AST class they lower."""
    return {getattr(A, n[len(prefix):]): getattr(cls, n) for n in dir(cls) if n.startswith(prefix)}


class _Lowering:
    def __init__(self, ct: Checked) -> None:
        self.ct = ct
        self.bindings: dict[str, str] = {}  # local name -> how it was bound (ir.BINDINGS)
        self.choices: list[ir.Choose] = []  # the current handler's, in site order
        self.variables: tuple[ir.Var, ...] = ()
        # Inside an inlined procedure its locals get a suffix unique to the call, so that they
        # cannot meet the caller's names: locals live in one flat namespace in every back end.
        self.suffix = ""
        self.inlined = 0
        self.renamed: dict[str, str] = {}  # binders seen under the names of another handler (strict mode)

    # ---- the spec ----------------------------------------------------------------------
    def program(self) -> ir.Program:
        ct = self.ct
        definitions = tuple(self.definition(d) for d in ct.defs)
        variables = tuple(ir.Var(v.decl.span, v.name, v.storage, v.type, v.slot,
                                 self.expr(v.init) if v.init is not None else None,
                                 declared=self.declared(v.decl.type, v.type)) for v in ct.vars)
        self.variables = variables
        handlers = tuple(self.handler(i, h) for i, h in enumerate(ct.handlers))
        if ct.strict:
            handlers += self.unhandled(len(handlers))
        properties = tuple(self.property(p) for p in ct.properties)
        messages = tuple(ir.Message(m.decl.span, m.name, m.id, m.fields, tuple(f.span for f in m.decl.fields),
                                    declared=tuple(self.declared(f.type, t) for f, (_, t) in zip(m.decl.fields, m.fields)))
                         for m in ct.messages)
        spec = ct.spec
        given = {b.name: b for b in spec.budget}
        budget = tuple(ir.Budget(given[name].span if name in given else spec.span, name, value,
                                 self.const_expr(given[name].expr, value) if name in given else None)
                       for name, value in ct.budget.items())
        assert spec.nodes is not None
        capacity = spec.network.capacity if spec.network is not None else None
        return ir.Program(spec.name, spec.filename, spec.source, spec.span, ct.n_nodes, ct.symmetric, ct.network,
                          ct.capacity, messages, variables, handlers, properties, definitions=definitions,
                          roles=tuple(ir.Role(r.decl.span, r.name, r.first, r.count, r.symmetric,
                                              self.const_expr(r.decl.count, r.count)) for r in ct.roles),
                          fairness=tuple(ir.Fairness(f.span, f.strong, f.kind, tuple(n for n, _ in f.names))
                                         for f in ct.fairness),
                          consts=tuple(ir.Const(c.span, c.name, ct.consts[c.name]) for c in spec.consts),  # type: ignore[arg-type]
                          type_decls=tuple(ir.TypeDecl(td.span, td.name, self.declared(td.type, ct.types[td.name]))
                                           for td in spec.types),
                          budget=budget,
                          nodes_count=self.const_expr(spec.nodes.count, ct.n_nodes),
                          capacity_expr=None if capacity is None or ct.capacity is None
                          else self.const_expr(capacity, ct.capacity))

    # ---- declarations as written --------------------------------------------------------
    def declared(self, t: A.TypeExpr, resolved: Type) -> ir.Declared:
        """A declared type as written; `resolved` is what the checker made of it (its parts are
        read from it, so nothing is resolved twice)."""
        match t:
            case A.TBool():
                return ir.DeclBuiltin(t.span, resolved, "bool")
            case A.TInt():
                return ir.DeclBuiltin(t.span, resolved, "int")
            case A.TRange():
                assert isinstance(resolved, IntType) and resolved.lo is not None and resolved.hi is not None
                return ir.DeclRange(t.span, resolved, self.const_expr(t.lo, resolved.lo),
                                    self.const_expr(t.hi, resolved.hi))
            case A.TOpaque():  # the back ends explore it as the range 1..K
                assert isinstance(resolved, IntType) and resolved.hi is not None
                return ir.DeclRange(t.span, resolved, ir.Literal(t.span, INT, 1),
                                    ir.Literal(t.span, INT, resolved.hi) if t.count is None
                                    else self.const_expr(t.count, resolved.hi))
            case A.TEnum():
                return ir.DeclEnum(t.span, resolved, t.members)
            case A.TNamed():
                return ir.DeclNamed(t.span, resolved, t.name)
            case A.TRecord():
                assert isinstance(resolved, RecordType)
                return ir.DeclRecord(t.span, resolved, tuple((f.name, self.declared(f.type, ft))
                                                             for f, (_, ft) in zip(t.fields, resolved.fields)))
            case A.TTuple():
                assert isinstance(resolved, TupleType)
                return ir.DeclTuple(t.span, resolved, tuple(self.declared(x, xt) for x, xt in zip(t.items, resolved.items)))
            case A.TSeq():
                assert isinstance(resolved, SeqType) and resolved.bound is not None
                return ir.DeclSeq(t.span, resolved, self.declared(t.elem, resolved.elem),
                                  self.const_expr(t.bound, resolved.bound))
            case A.TSet():
                assert isinstance(resolved, SetType)
                return ir.DeclSet(t.span, resolved, self.declared(t.elem, resolved.elem))
            case A.TMap():
                assert isinstance(resolved, MapType)
                return ir.DeclMap(t.span, resolved, self.declared(t.key, resolved.key),
                                  self.declared(t.value, resolved.value))
            case A.TOption():
                assert isinstance(resolved, OptionType)
                return ir.DeclOption(t.span, resolved, self.declared(t.elem, resolved.elem))
        raise AssertionError(f"a type expression {type(t).__name__}")  # pragma: no cover

    def const_expr(self, e: A.Expr, value: int) -> ir.Expr:
        """An integer constant expression as written (numbers, constants, + - *), or else its value."""
        kept = self._const_as_written(e)
        return kept if kept is not None else ir.Literal(e.span, INT, value)

    def _const_as_written(self, e: A.Expr) -> ir.Expr | None:
        match e:
            case A.Num():
                return ir.Literal(e.span, INT, e.value)
            case A.Name() if e.id in self.ct.consts:
                return ir.ConstRef(e.span, INT, e.id, self.ct.consts[e.id])  # type: ignore[arg-type]
            case A.Binary() if e.op in ("+", "-", "*"):
                a, b = self._const_as_written(e.left), self._const_as_written(e.right)
                if a is not None and b is not None:
                    return ir.Binary(e.span, INT, e.op, a, b)
        return None

    def definition(self, d: DefInfo) -> ir.Definition:
        self.bindings = {name: "argument" for name, _ in d.params}
        params = tuple(ir.Param(p.span, name, t, declared=self.declared(p.type, t))
                       for p, (name, t) in zip(d.decl.params, d.params))
        return ir.Definition(d.decl.span, d.name, d.index, params, d.result, self.expr(d.decl.body))

    def unhandled(self, first: int) -> tuple[ir.OnMessage, ...]:
        """Strict mode as handlers: for each message kind not ignored, one that accepts exactly
        what no handler of the spec accepts (none of their guards holds) and fails the step."""
        ct, out = self.ct, []
        assert ct.spec.strict is not None
        span = ct.spec.strict.span
        for m in ct.messages:
            if m.name in ct.ignored:
                continue
            mine = [h for h in ct.handlers if isinstance(h, A.OnMessage) and h.message == m.name]
            if any(h.guard is None for h in mine):
                continue  # a handler accepts every such message
            binders = tuple(f"{f}_any" for f, _ in m.fields)
            guards: list[ir.Expr] = []
            for h in mine:
                assert h.guard is not None
                self.renamed = dict(zip(h.binders, binders)) | ({h.sender: "sender_any"} if h.sender else {})
                self.bindings = {b: "field" for b in binders} | {"sender_any": "sender"}
                guards.append(self.expr(h.guard))
            self.renamed = {}
            accepted = guards[0] if guards else ir.Literal(span, BOOL, False)
            for g in guards[1:]:
                accepted = ir.Binary(span, BOOL, "or", accepted, g)
            guard = ir.Unary(span, BOOL, "not", accepted)
            fail = ir.Fail(span, f"no handler accepts {m.name} (strict mode; declaring ignore {m.name} allows it)")
            out.append(ir.OnMessage(span, first + len(out), guard, (fail,), (), m.name, m.id, binders, "sender_any"))
        return tuple(out)

    def handler(self, index: int, h: A.Handler) -> ir.Handler:
        self.bindings = {}
        self.choices = []
        if isinstance(h, A.OnMessage):
            self.bindings.update((b, "field") for b in h.binders if b != "_")
            if h.sender is not None:
                self.bindings[h.sender] = "sender"
        elif isinstance(h, A.OnRequest):
            self.bindings.update((p.name, "param") for p in h.params)
        guard = self.expr(h.guard) if h.guard is not None else None
        body = self.block(h.body)
        common = (h.span, index, guard, body, tuple(self.choices))
        if isinstance(h, A.OnMessage):
            msg = self.ct.message(h.message)
            assert msg is not None
            return ir.OnMessage(*common, h.message, msg.id, h.binders, h.sender)
        if isinstance(h, A.OnTimer):
            return ir.OnTimer(*common, h.name, h.spends)
        if isinstance(h, A.OnRequest):
            params = tuple(ir.Param(p.span, name, t, self.declared(p.type, t))
                           for p, (name, t) in zip(h.params, self.ct.request_params[h]))
            return ir.OnRequest(*common, h.name, params)
        if isinstance(h, A.OnRebuild):
            return ir.OnRebuild(*common)
        assert isinstance(h, A.OnRecover)
        return ir.OnRecover(*common)

    def property(self, p: A.Property) -> ir.Property:
        self.bindings = {}
        expr = self.expr(p.expr)
        target = self.expr(p.target) if p.target is not None else None
        nodes = list(ir.walk(expr)) + (list(ir.walk(target)) if target is not None else [])
        reads = tuple(sorted({x.name for x in nodes if isinstance(x, ir.NodeVar)}))
        messages = tuple(sorted({x.message for x in nodes if isinstance(x, ir.InFlight)}))
        return ir.Property(p.span, p.kind, p.name, expr, reads, messages, target)

    # ---- statements --------------------------------------------------------------------
    def block(self, stmts: tuple[A.Stmt, ...]) -> tuple[ir.Stmt, ...]:
        """A block's statements; the names it binds go out of scope at its end."""
        outer = dict(self.bindings)
        out: list[ir.Stmt] = []
        for s in stmts:
            lowered = self._stmt[type(s)](self, s)
            out.extend(lowered if isinstance(lowered, tuple) else (lowered,))
        self.bindings = outer
        return tuple(out)

    def local(self, name: str) -> str:
        """A local's name in the IR: renamed inside an inlined procedure."""
        return self.renamed.get(name, name) + self.suffix

    def stmt_CallStmt(self, s: A.CallStmt) -> tuple[ir.Stmt, ...]:
        """A procedure call is inlined: a `let` per parameter, then the body, renamed apart."""
        info = self.ct.procs[self.ct.refs[s].value]  # type: ignore[index]
        args = [self.expr(a.expr) for a in s.args]
        outer_suffix, outer_bindings = self.suffix, self.bindings
        self.inlined += 1
        self.suffix = f"__{info.name}{self.inlined}"
        self.bindings = {}
        lets = []
        for (name, _), arg, p in zip(info.params, args, info.decl.params):
            lets.append(ir.Let(p.span, self.local(name), arg))
            self.bindings[self.local(name)] = "let"
        body = self.block(info.decl.body)
        self.suffix, self.bindings = outer_suffix, outer_bindings
        return (*lets, *body)

    def stmt_Reset(self, s: A.Reset) -> ir.Reset:
        by_name = {v.name: v for v in self.variables}
        return ir.Reset(s.span, tuple(by_name[n] for n in s.names))

    def stmt_Assign(self, s: A.Assign) -> ir.Assign:
        sym = self.ct.refs[s]
        target: ir.StateVar | ir.Local
        if sym.kind == "statevar":
            target = ir.StateVar(s.span, sym.type, s.target, sym.slot)
        else:
            name = self.local(s.target)
            target = ir.Local(s.span, sym.type, name, self.bindings[name])
        path: list[ir.FieldStep | ir.KeyStep] = []
        t = sym.type
        for acc in s.path:
            reached = self.ct.expr_types[acc]
            if acc.field is not None:
                assert isinstance(t, RecordType)
                index = t.field_index(acc.field)
                assert index is not None
                path.append(ir.FieldStep(acc.span, acc.field, index, reached))
            else:
                assert acc.index is not None
                path.append(ir.KeyStep(acc.span, self.expr(acc.index), reached))
            t = reached
        return ir.Assign(s.span, target, tuple(path), self.expr(s.expr))

    def stmt_Let(self, s: A.Let) -> ir.Let:
        expr = self.expr(s.expr)
        self.bindings[self.local(s.name)] = "let"
        return ir.Let(s.span, self.local(s.name), expr)

    def stmt_If(self, s: A.If) -> ir.If:
        return ir.If(s.span, self.expr(s.cond), self.block(s.then), self.block(s.other))

    def stmt_For(self, s: A.For) -> ir.For:
        domain = self.expr(s.domain)
        outer = dict(self.bindings)
        self.bindings[self.local(s.var)] = "loop"
        body = self.block(s.body)
        self.bindings = outer
        return ir.For(s.span, self.local(s.var), domain, body)

    def stmt_Send(self, s: A.Send) -> ir.Send:
        msg = self.ct.message(s.message)
        assert msg is not None
        ordered = _in_declared_order(s.args, [f for f, _ in msg.fields])
        fields = tuple((f, self.expr(e)) for f, e in ordered)
        return ir.Send(s.span, s.message, msg.id, fields, self.expr(s.dest))

    def stmt_Disconnect(self, s: A.Disconnect) -> ir.Disconnect:
        return ir.Disconnect(s.span, self.expr(s.dest))

    def stmt_Reply(self, s: A.Reply) -> ir.Reply:
        return ir.Reply(s.span, self.expr(s.expr))

    def stmt_ChooseOne(self, s: A.ChooseOne) -> ir.ChooseOne:
        domain = self.expr(s.domain)
        self.bindings[s.var] = "choice"
        return self._site(ir.ChooseOne(s.span, s.var, domain, len(self.choices), self.ct.refs_choice[s]))

    def stmt_ChooseSubset(self, s: A.ChooseSubset) -> ir.ChooseSubset:
        domain, size = self.expr(s.domain), self.expr(s.size)
        self.bindings[s.var] = "choice"
        return self._site(ir.ChooseSubset(s.span, s.var, domain, size, len(self.choices), self.ct.refs_choice[s]))

    def _site(self, choice: _C) -> _C:
        """Number a `choose`: sites count from 0 in each handler, in statement order."""
        self.choices.append(choice)
        return choice

    # ---- expressions -------------------------------------------------------------------
    def expr(self, e: A.Expr) -> ir.Expr:
        return self._expr[type(e)](self, e, self.ct.expr_types[e])

    def _bound(self, names: tuple[str, ...], inner: Callable[[], ir.Expr]) -> ir.Expr:
        """Lower `inner` with quantifier / comprehension variables in scope."""
        outer = dict(self.bindings)
        self.bindings.update((self.local(n), "bound") for n in names)
        out = inner()
        self.bindings = outer
        return out

    def expr_Num(self, e: A.Num, t: Any) -> ir.Expr:
        return ir.Literal(e.span, t, e.value)

    def expr_BoolLit(self, e: A.BoolLit, t: Any) -> ir.Expr:
        return ir.Literal(e.span, t, e.value)

    def expr_NoneLit(self, e: A.NoneLit, t: Any) -> ir.Expr:
        return ir.NoneLit(e.span, t)

    def expr_SelfRef(self, e: A.SelfRef, t: Any) -> ir.Expr:
        return ir.SelfId(e.span, t)

    def expr_Name(self, e: A.Name, t: Any) -> ir.Expr:
        sym = self.ct.refs[e]
        match sym.kind:
            case "const":
                return ir.ConstRef(e.span, t, e.id, sym.value)  # type: ignore[arg-type]
            case "enum":
                return ir.EnumMember(e.span, t, e.id, sym.value)  # type: ignore[arg-type]
            case "statevar":
                return ir.StateVar(e.span, t, e.id, sym.slot)
            case "local":
                return ir.Local(e.span, t, self.local(e.id), self.bindings[self.local(e.id)])
            case "inflight":
                return ir.InFlight(e.span, t, e.id, sym.value)  # type: ignore[arg-type]
            case "role":
                return ir.RoleNodes(e.span, t, e.id, sym.value)  # type: ignore[arg-type]
            case "typeset":
                assert isinstance(sym.type, SetType)
                return ir.TypeValues(e.span, t, e.id, sym.type.elem)
        raise AssertionError(f"a name of kind {sym.kind} in an expression")  # pragma: no cover

    def expr_TupleLit(self, e: A.TupleLit, t: Any) -> ir.Expr:
        return ir.TupleLit(e.span, t, tuple(self.expr(x) for x in e.items))

    def expr_SeqLit(self, e: A.SeqLit, t: Any) -> ir.Expr:
        return ir.SeqLit(e.span, t, tuple(self.expr(x) for x in e.items))

    def expr_SetLit(self, e: A.SetLit, t: Any) -> ir.Expr:
        return ir.SetLit(e.span, t, tuple(self.expr(x) for x in e.items))

    def expr_RangeExpr(self, e: A.RangeExpr, t: Any) -> ir.Expr:
        return ir.Range(e.span, t, self.expr(e.lo), self.expr(e.hi))

    def expr_SetFilter(self, e: A.SetFilter, t: Any) -> ir.Expr:
        domain = self.expr(e.domain)
        return self._bound((e.var,), lambda: ir.SetFilter(e.span, t, self.local(e.var), domain, self.expr(e.cond)))

    def expr_SetMap(self, e: A.SetMap, t: Any) -> ir.Expr:
        domain = self.expr(e.domain)
        return self._bound((e.var,), lambda: ir.SetMap(e.span, t, self.expr(e.expr), self.local(e.var), domain))

    def expr_Quant(self, e: A.Quant, t: Any) -> ir.Expr:
        domain = self.expr(e.domain)
        return self._bound(e.vars, lambda: ir.Quant(e.span, t, e.kind, tuple(self.local(v) for v in e.vars), domain,
                                                           self.expr(e.body)))

    def expr_Cond(self, e: A.Cond, t: Any) -> ir.Expr:
        return ir.Cond(e.span, t, self.expr(e.cond), self.expr(e.then), self.expr(e.other))

    def expr_Unary(self, e: A.Unary, t: Any) -> ir.Expr:
        return ir.Unary(e.span, t, e.op, self.expr(e.operand))

    def expr_Binary(self, e: A.Binary, t: Any) -> ir.Expr:
        return ir.Binary(e.span, t, e.op, self.expr(e.left), self.expr(e.right))

    def expr_FieldGet(self, e: A.FieldGet, t: Any) -> ir.Expr:
        obj = self.expr(e.obj)
        if isinstance(obj.type, NodeType):
            return ir.NodeVar(e.span, t, obj, e.name, self.ct.refs[e].slot)
        assert isinstance(obj.type, RecordType)
        index = obj.type.field_index(e.name)
        assert index is not None
        return ir.RecordField(e.span, t, obj, e.name, index)

    def expr_Index(self, e: A.Index, t: Any) -> ir.Expr:
        obj = self.expr(e.obj)
        if isinstance(obj.type, SeqType):
            return ir.SeqIndex(e.span, t, obj, self.expr(e.index))
        if isinstance(obj.type, MapType):
            return ir.MapGet(e.span, t, obj, self.expr(e.index))
        assert isinstance(obj.type, TupleType) and isinstance(e.index, A.Num)
        return ir.TupleItem(e.span, t, obj, e.index.value)

    def expr_Slice(self, e: A.Slice, t: Any) -> ir.Expr:
        return ir.Slice(e.span, t, self.expr(e.obj), None if e.lo is None else self.expr(e.lo),
                        None if e.hi is None else self.expr(e.hi))

    def expr_Call(self, e: A.Call, t: Any) -> ir.Expr:
        rec = self.ct.types.get(e.func)
        if isinstance(rec, RecordType):
            ordered = _in_declared_order(e.args, [f for f, _ in rec.fields])
            return ir.RecordLit(e.span, t, e.func, tuple((f, self.expr(x)) for f, x in ordered))
        sym = self.ct.refs.get(e)
        if sym is not None and sym.kind == "def":
            return ir.Apply(e.span, t, e.func, sym.value, tuple(self.expr(a.expr) for a in e.args))  # type: ignore[arg-type]
        return ir.BuiltinCall(e.span, t, e.func, tuple(self.expr(a.expr) for a in e.args))

    _stmt: dict[type, Callable[..., ir.Stmt]]
    _expr: dict[type, Callable[..., ir.Expr]]


_Lowering._stmt = _table(_Lowering, "stmt_")
_Lowering._expr = _table(_Lowering, "expr_")


def _in_declared_order(args: tuple[A.Arg, ...], declared: list[str]) -> tuple[tuple[str, A.Expr], ...]:
    """Arguments given by name or by position, as (field, expression) in declared field order.

    The one normalization of `send` and record constructor arguments (the checker has made sure
    each field is given exactly once).
    """
    given = {(a.name if a.name is not None else declared[i]): a.expr for i, a in enumerate(args)}
    return tuple((f, given[f]) for f in declared)
