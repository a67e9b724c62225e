"""Parse Pnyx source text into the frozen AST of `model.ast`, in one Transformer."""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from functools import lru_cache
from pathlib import Path

import lark
from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import ast as A
from .errors import PnyxError, SpecError

GRAMMAR = Path(__file__).with_name("grammar.lark")

# Levels of nesting (expressions inside expressions, blocks inside blocks) a spec may use.
# Every later pass walks the tree recursively and the generated Python nests as deep, so a
# limit far above what a person writes (the bundled specs reach 15) keeps every pass within
# Python's recursion and parser limits; 20,000 terms in one chain are refused, not a crash.
MAX_NESTING = 100
INT_MAX = 2**63 - 1  # integers in a spec are 64-bit
MAX_SPEC_BYTES = 16 * 2**20
_STATEMENT_RULES = frozenset({"block", "if_stmt", "for_stmt", "assign", "let", "send", "reply", "disconnect",
                              "choose_one", "choose_subset", "on_message", "on_timer", "on_request", "on_recover", "on_rebuild"})

# Friendlier names for terminals in "expected ..." messages.
_TERMINAL_NAMES = {
    "NAME": "a name", "NUMBER": "a number", "COMPOP": "a comparison", "ADDOP": "'+'", "MULOP": "'*'",
}


@lru_cache(maxsize=1)
def _parser() -> Lark:
    """The LALR parser. Building its tables takes longer than most commands' own work, so they
    are saved once per grammar (and Lark and Python version) under the user's cache folder
    and loaded from there; a missing, unreadable or unwritable cache only costs the build."""
    text = GRAMMAR.read_text()
    cache = _cache_file(text)
    if cache is not None and cache.is_file():
        try:
            with cache.open("rb") as f:
                return Lark.load(f)
        except Exception:  # noqa: BLE001 - a damaged cache file: rebuilt below
            pass
    parser = Lark(text, parser="lalr", propagate_positions=True, maybe_placeholders=True)
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("wb", dir=cache.parent, delete=False) as tmp:
                parser.save(tmp)
            os.replace(tmp.name, cache)  # whole or not at all, for processes starting side by side
        except OSError:
            pass
    return parser


def _cache_file(grammar: str) -> Path | None:
    """Where the parser tables of this grammar are kept: $XDG_CACHE_HOME/pnyx (default ~/.cache/pnyx),
    or nowhere when $PNYX_NO_CACHE is set or there is no home folder."""
    if os.environ.get("PNYX_NO_CACHE"):
        return None
    try:
        root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    except RuntimeError:  # no home folder
        return None
    key = hashlib.sha256(f"{grammar}\0{lark.__version__}\0{sys.version_info[:2]}".encode()).hexdigest()[:20]
    return root / "pnyx" / f"grammar-{key}.lark"


def _span(meta: object) -> A.Span:
    if getattr(meta, "empty", True):
        return A.NOWHERE
    return A.Span(meta.line, meta.column, meta.end_line, meta.end_column)  # type: ignore[attr-defined]


def _tok_span(tok: Token) -> A.Span:
    return A.Span(tok.line or 0, tok.column or 0, tok.end_line or 0, tok.end_column or 0)


@v_args(meta=True)
class _ToAst(Transformer):
    """Each method builds one AST node from a grammar rule of the same name."""

    # -- declarations
    def start(self, meta, children):
        name, *decls = children
        return (str(name), decls)

    def const_decl(self, meta, c):
        return A.ConstDecl(_span(meta), str(c[0]), c[1])

    def type_decl(self, meta, c):
        return A.TypeDecl(_span(meta), str(c[0]), c[1])

    def def_decl(self, meta, c):
        name, *params, result, body = c
        return A.DefDecl(_span(meta), str(name), tuple(x for x in params if x is not None), result, body)

    def nodes_decl(self, meta, c):
        return A.NodesDecl(_span(meta), c[0], c[1] is not None)

    def role_decl(self, meta, c):
        return A.RoleDecl(_span(meta), str(c[0]), c[1], c[2] is not None)

    def nodes_roles(self, meta, roles):
        count = roles[0].count
        for r in roles[1:]:  # the node count as written: the roles' counts added up
            count = A.Binary(A.Span(count.span.line, count.span.col, r.count.span.end_line, r.count.span.end_col),
                             "+", count, r.count)
        return A.NodesDecl(_span(meta), count, any(r.symmetric for r in roles), tuple(roles))

    def netkind(self, meta, c):
        return str(c[0])

    def network_decl(self, meta, c):
        return A.NetworkDecl(_span(meta), c[0], c[1])

    def budget_item(self, meta, c):
        return A.BudgetItem(_span(meta), str(c[0]), c[1])

    def budget_decl(self, meta, c):
        return ("budget", tuple(c))

    def field(self, meta, c):
        return A.Field(_span(meta), str(c[0]), c[1])

    def message_decl(self, meta, c):
        return A.MessageDecl(_span(meta), str(c[0]), tuple(x for x in c[1:] if x is not None))

    def storage(self, meta, c):
        return str(c[0])

    def var_decl(self, meta, c):
        return A.VarDecl(_span(meta), c[0], str(c[1]), c[2], c[3])

    def state_decl(self, meta, c):
        return ("state", tuple(c))

    def binder(self, meta, c):
        return str(c[0])

    def guard(self, meta, c):
        return c[0]

    def block(self, meta, c):
        return tuple(c)

    def on_message(self, meta, c):
        name, *rest = c
        body, guard, sender = rest[-1], rest[-2], rest[-3]
        binders = tuple(b for b in rest[:-3] if b is not None)
        return A.OnMessage(_span(meta), guard, body, str(name), binders, sender)

    def on_timer(self, meta, c):
        return A.OnTimer(_span(meta), c[2], c[3], str(c[0]), str(c[1]) if c[1] is not None else None)

    def on_request(self, meta, c):
        name, *rest = c
        body, guard = rest[-1], rest[-2]
        params = tuple(p for p in rest[:-2] if p is not None)
        return A.OnRequest(_span(meta), guard, body, str(name), params)

    def on_recover(self, meta, c):
        return A.OnRecover(_span(meta), None, c[0])

    def on_rebuild(self, meta, c):
        return A.OnRebuild(_span(meta), None, c[0])

    def propkind(self, meta, c):
        return str(c[0])

    def property(self, meta, c):
        return A.Property(_span(meta), c[0], str(c[1]), c[2])

    def leadsto_property(self, meta, c):
        return A.Property(_span(meta), "leadsto", str(c[1]), c[2], c[3])

    def strict_decl(self, meta, c):
        return A.Strict(_span(meta))

    def ignore_decl(self, meta, c):
        return A.Ignore(_span(meta), tuple((str(n), _tok_span(n)) for n in c))

    def fairness_decl(self, meta, c):
        strong, kind, *names = c
        return A.Fairness(_span(meta), strong is not None, str(kind), _tok_span(kind),
                          tuple((str(n), _tok_span(n)) for n in names if n is not None))

    # -- types
    def bool_type(self, meta, c):
        return A.TBool(_span(meta))

    def int_type(self, meta, c):
        return A.TInt(_span(meta))

    def range_type(self, meta, c):
        return A.TRange(_span(meta), c[0], c[1])

    def range_type_open(self, meta, c):
        return A.TRange(_span(meta), c[0], _less_one(c[1]))

    def enum_type(self, meta, c):
        return A.TEnum(_span(meta), tuple(str(x) for x in c))

    def record_type(self, meta, c):
        return A.TRecord(_span(meta), tuple(c))

    def tuple_type(self, meta, c):
        return A.TTuple(_span(meta), tuple(c))

    def seq_type(self, meta, c):
        return A.TSeq(_span(meta), c[0], c[1])

    def set_type(self, meta, c):
        return A.TSet(_span(meta), c[0])

    def map_type(self, meta, c):
        return A.TMap(_span(meta), c[0], c[1])

    def option_type(self, meta, c):
        return A.TOption(_span(meta), c[0])

    def opaque_type(self, meta, c):
        return A.TOpaque(_span(meta), c[0])

    def named_type(self, meta, c):
        return A.TNamed(_span(meta), str(c[0]))

    # -- statements
    def assign(self, meta, c):
        (target, path), expr = c
        return A.Assign(_span(meta), target, path, expr)

    def lvalue(self, meta, c):
        return (str(c[0]), tuple(c[1:]))

    def field_access(self, meta, c):
        return A.Accessor(_span(meta), str(c[0]), None)

    def index_access(self, meta, c):
        return A.Accessor(_span(meta), None, c[0])

    def let(self, meta, c):
        return A.Let(_span(meta), str(c[0]), c[1])

    def if_stmt(self, meta, c):
        other = c[2]
        if other is None:
            other = ()
        elif isinstance(other, A.If):
            other = (other,)
        return A.If(_span(meta), c[0], c[1], other)

    def for_stmt(self, meta, c):
        return A.For(_span(meta), str(c[0]), c[1], c[2])

    def send(self, meta, c):
        name, *rest = c
        dest = rest[-1]
        return A.Send(_span(meta), str(name), _args(rest[:-1]), dest)

    def reset(self, meta, c):
        return A.Reset(_span(meta), tuple(str(x) for x in c))

    def call_stmt(self, meta, c):
        return A.CallStmt(_span(meta), str(c[0]), _args(c[1:]))

    def proc_decl(self, meta, c):
        name, *params, body = c
        return A.ProcDecl(_span(meta), str(name), tuple(x for x in params if x is not None), body)

    def disconnect(self, meta, c):
        return A.Disconnect(_span(meta), c[0])

    def reply(self, meta, c):
        return A.Reply(_span(meta), c[0])

    def choose_one(self, meta, c):
        return A.ChooseOne(_span(meta), str(c[0]), c[1])

    def choose_subset(self, meta, c):
        return A.ChooseSubset(_span(meta), str(c[0]), c[1], c[2])

    # -- expressions
    def quantkind(self, meta, c):
        return str(c[0])

    def quantifier(self, meta, c):
        kind, *names = c[:-2]
        return A.Quant(_span(meta), kind, tuple(str(n) for n in names), c[-2], c[-1])

    def cond(self, meta, c):
        return A.Cond(_span(meta), c[0], c[1], c[2])

    def range_expr(self, meta, c):
        return A.RangeExpr(_span(meta), c[0], c[1])

    def range_expr_open(self, meta, c):
        return A.RangeExpr(_span(meta), c[0], _less_one(c[1]))

    def implies_op(self, meta, c):
        return A.Binary(_span(meta), "=>", c[0], c[1])

    def or_op(self, meta, c):
        return A.Binary(_span(meta), "or", c[0], c[1])

    def and_op(self, meta, c):
        return A.Binary(_span(meta), "and", c[0], c[1])

    def not_op(self, meta, c):
        return A.Unary(_span(meta), "not", c[0])

    def compare(self, meta, c):
        return A.Binary(_span(meta), str(c[1]), c[0], c[2])

    def in_op(self, meta, c):
        return A.Binary(_span(meta), "in", c[0], c[1])

    def not_in_op(self, meta, c):
        return A.Binary(_span(meta), "not in", c[0], c[1])

    def binary(self, meta, c):
        return A.Binary(_span(meta), str(c[1]), c[0], c[2])

    def negate(self, meta, c):
        return A.Unary(_span(meta), "-", c[0])

    def get_field(self, meta, c):
        return A.FieldGet(_span(meta), c[0], str(c[1]))

    def index(self, meta, c):
        return A.Index(_span(meta), c[0], c[1])

    def slice(self, meta, c):
        return A.Slice(_span(meta), c[0], c[1], c[2])

    def call(self, meta, c):
        return A.Call(_span(meta), str(c[0]), _args(c[1:]))

    def named_arg(self, meta, c):
        return A.Arg(_span(meta), str(c[0]), c[1])

    def number(self, meta, c):
        text = str(c[0])
        if len(text) > 19 or int(text) > INT_MAX:
            raise _Located(f"number too large: integers in a spec are 64-bit, at most {INT_MAX}", _tok_span(c[0]))
        return A.Num(_span(meta), int(text))

    def true(self, meta, c):
        return A.BoolLit(_span(meta), True)

    def false(self, meta, c):
        return A.BoolLit(_span(meta), False)

    def none(self, meta, c):
        return A.NoneLit(_span(meta))

    def self_ref(self, meta, c):
        return A.SelfRef(_span(meta))

    def name(self, meta, c):
        return A.Name(_span(meta), str(c[0]))

    def tuple_lit(self, meta, c):
        return A.TupleLit(_span(meta), tuple(c))

    def set_lit(self, meta, c):
        return A.SetLit(_span(meta), tuple(x for x in c if x is not None))

    def set_filter(self, meta, c):
        head, cond = c
        if not (isinstance(head, A.Binary) and head.op == "in" and isinstance(head.left, A.Name)):
            raise _Located("a filter is written {x in S where condition}", head.span)
        return A.SetFilter(_span(meta), head.left.id, head.right, cond)

    def set_map(self, meta, c):
        return A.SetMap(_span(meta), c[0], str(c[1]), c[2])

    def seq_lit(self, meta, c):
        return A.SeqLit(_span(meta), tuple(x for x in c if x is not None))


class _Located(Exception):
    def __init__(self, message: str, span: A.Span) -> None:
        super().__init__(message)
        self.message = message
        self.span = span


def _less_one(hi: A.Expr) -> A.Expr:
    """`a..<b` is `a..(b - 1)`: the half-open range, as the inclusive one every back end knows."""
    return A.Binary(hi.span, "-", hi, A.Num(hi.span, 1))


def _args(items: list) -> tuple[A.Arg, ...]:
    out = []
    for it in items:
        if it is None:
            continue
        out.append(it if isinstance(it, A.Arg) else A.Arg(it.span, None, it))
    return tuple(out)


def _terminal_name(name: str) -> str:
    if name in _TERMINAL_NAMES:
        return _TERMINAL_NAMES[name]
    try:
        pattern = _parser().get_terminal(name).pattern
    except KeyError:
        return name
    return repr(pattern.value) if pattern.type == "str" else name.lower()


def _expected(exc: UnexpectedInput) -> str:
    names = sorted({_terminal_name(t) for t in getattr(exc, "expected", ()) or ()})
    if not names:
        return ""
    if len(names) > 14:
        names = names[:14] + ["..."]
    return "expected " + ", ".join(names)


def parse(source: str, filename: str = "<spec>") -> A.Spec:
    """Parse a whole spec; raise `SpecError` with file, line and column on bad input."""
    try:
        tree = _parser().parse(source)
    except UnexpectedCharacters as exc:
        span = A.Span(exc.line, exc.column, exc.line, exc.column + 1)
        raise SpecError(f"unexpected character {source[exc.pos_in_stream]!r}", filename, source, span) from None
    except UnexpectedEOF as exc:
        lines = source.splitlines() or [""]
        span = A.Span(len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 1)
        raise SpecError("unexpected end of file", filename, source, span, _expected(exc)) from None
    except UnexpectedToken as exc:
        tok = exc.token
        if tok.type == "$END":
            lines = source.splitlines() or [""]
            span = A.Span(len(lines), len(lines[-1]) + 1, len(lines), len(lines[-1]) + 1)
            raise SpecError("unexpected end of file", filename, source, span, _expected(exc)) from None
        raise SpecError(f"unexpected {str(tok)!r}", filename, source, _tok_span(tok), _expected(exc)) from None
    deep = _too_deep(tree)
    if deep is not None:
        what = "blocks" if deep[1] else "expression"
        raise SpecError(f"{what} nested too deeply: more than {MAX_NESTING} levels", filename, source, _span(deep[0].meta),
                        "split it: intermediate `let` variables, constants or smaller handlers") from None
    try:
        name, decls = _ToAst().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, _Located):
            raise SpecError(exc.orig_exc.message, filename, source, exc.orig_exc.span) from None
        raise
    return _assemble(name, decls, filename, source)


def _too_deep(tree: Tree) -> tuple[Tree, bool] | None:
    """The leftmost subtree below MAX_NESTING levels, and whether mostly blocks lead to it, if any
    (an explicit stack: no recursion).

    Leftmost, so that in a long chain `a + b + c ...` the error points at where it starts.
    """
    stack = [(tree, 1, 0)]
    while stack:
        t, depth, blocks = stack.pop()
        if depth > MAX_NESTING:
            return t, 2 * blocks > depth
        blocks += t.data in _STATEMENT_RULES
        stack.extend((c, depth + 1, blocks) for c in reversed(t.children) if isinstance(c, Tree))
    return None


def _assemble(name: str, decls: list, filename: str, source: str) -> A.Spec:
    kinds = ("consts", "types", "defs", "procs", "budget", "messages", "state", "handlers", "properties",
             "fairness", "ignores")
    groups: dict[str, list] = {k: [] for k in kinds}
    nodes = network = strict = None
    for d in decls:
        if isinstance(d, A.ConstDecl):
            groups["consts"].append(d)
        elif isinstance(d, A.TypeDecl):
            groups["types"].append(d)
        elif isinstance(d, A.DefDecl):
            groups["defs"].append(d)
        elif isinstance(d, A.ProcDecl):
            groups["procs"].append(d)
        elif isinstance(d, A.Strict):
            if strict is not None:
                raise SpecError("a spec declares `strict` once", filename, source, d.span)
            strict = d
        elif isinstance(d, A.Ignore):
            groups["ignores"].append(d)
        elif isinstance(d, A.NodesDecl):
            if nodes is not None:
                raise SpecError("a spec declares `nodes` once", filename, source, d.span)
            nodes = d
        elif isinstance(d, A.NetworkDecl):
            if network is not None:
                raise SpecError("a spec declares `network` once", filename, source, d.span)
            network = d
        elif isinstance(d, A.MessageDecl):
            groups["messages"].append(d)
        elif isinstance(d, A.Handler):
            groups["handlers"].append(d)
        elif isinstance(d, A.Property):
            groups["properties"].append(d)
        elif isinstance(d, A.Fairness):
            groups["fairness"].append(d)
        elif isinstance(d, tuple) and d[0] == "budget":
            groups["budget"].extend(d[1])
        elif isinstance(d, tuple) and d[0] == "state":
            groups["state"].extend(d[1])
        elif isinstance(d, Tree):  # pragma: no cover - grammar and transformer out of step
            raise AssertionError(f"untransformed rule {d.data}")
    return A.Spec(A.Span(1, 1, 1, 1), name, filename, source, nodes=nodes, network=network, strict=strict,
                  **{k: tuple(v) for k, v in groups.items()})


def parse_file(path: str | Path) -> A.Spec:
    """Read and parse a spec file; a missing or unreadable file is a `PnyxError`."""
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)  # bounded: /dev/zero is not read forever
        source = raw.decode("utf-8")
    except FileNotFoundError:
        raise PnyxError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise PnyxError(f"{path}: is a directory, expected a .pnyx spec file") from None
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or a NUL in the name
        raise PnyxError(f"{path}: cannot read: {exc}") from None
    if len(raw) > MAX_SPEC_BYTES:
        raise PnyxError(f"{path}: larger than {MAX_SPEC_BYTES // 2**20} MiB, too large for a spec")
    return parse(source, str(path))
