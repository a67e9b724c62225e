"""Fixed TLA+ operators every exported module defines: Pnyx's builtins and folds.

Each mirrors a helper of model/runtime.py, including where Pnyx stops with an
error (an index out of range, a map key outside its type, division by zero):
TLC then stops with an evaluation error too.
"""

from __future__ import annotations

from pnyx.model import system

COMMON = r"""
\* ---- Pnyx's builtins (model/runtime.py) -----------------------------------
Range(s) == {s[i] : i \in DOMAIN s}
Last(s) == s[Len(s)]
Clamp(i, n) == IF i < 0 THEN (IF n + i < 0 THEN 0 ELSE n + i) ELSE (IF i > n THEN n ELSE i)
\* s[lo:hi] as in Python (a negative bound counts from the end)
Slice(s, lo, hi) == SubSeq(s, Clamp(lo, Len(s)) + 1, Clamp(hi, Len(s)))
IsPrefix(a, b) == Len(a) <= Len(b) /\ SubSeq(b, 1, Len(a)) = a
Value(o) == o[1]
Div(a, b) == IF b = 0 THEN Assert(FALSE, "division by zero") ELSE a \div b
Mod(a, b) == IF b = 0 THEN Assert(FALSE, "modulo by zero") ELSE a % b
\* f with f[k] replaced by v; Pnyx stops with an error when k is not an index or key of f
Update(f, k, v) == IF k \in DOMAIN f THEN [f EXCEPT ![k] = v] ELSE Assert(FALSE, "index or key out of range")
NodeNamed(i) == IF i \in Node THEN i ELSE Assert(FALSE, "node(i) does not exist")
Option(S) == {s \in Seq(S) : Len(s) <= 1}
BSeq(S, k) == {s \in Seq(S) : Len(s) <= k}
IndexOf(s, x) == CHOOSE i \in DOMAIN s : s[i] = x
SubsetsOfSize(S, k) ==
    LET size == IF k < 0 THEN 0 ELSE IF k > Cardinality(S) THEN Cardinality(S) ELSE k
    IN  {T \in SUBSET S : Cardinality(T) = size}

\* ---- orders and folds: loops visit a set in Pnyx's (ascending) order --------
\* A recursive operator takes its operator argument first: SANY (2.1) rejects a RECURSIVE
\* definition whose operator argument comes later ("different arity than its RECURSIVE declaration").
IntLt(lhs, rhs) == lhs < rhs
BoolLt(lhs, rhs) == ~lhs /\ rhs
RECURSIVE SortedSeq(_, _)
SortedSeq(Lt(_, _), S) ==
    IF S = {} THEN <<>>
    ELSE LET least == CHOOSE x \in S : \A y \in S : ~Lt(y, x)
         IN  <<least>> \o SortedSeq(Lt, S \ {least})
RECURSIVE SeqLt(_, _, _)
SeqLt(Lt(_, _), lhs, rhs) ==
    IF lhs = <<>> THEN rhs # <<>>
    ELSE IF rhs = <<>> THEN FALSE
    ELSE IF Lt(Head(lhs), Head(rhs)) THEN TRUE
    ELSE IF Head(lhs) = Head(rhs) THEN SeqLt(Lt, Tail(lhs), Tail(rhs))
    ELSE FALSE
MaxOf(S, Lt(_, _)) == CHOOSE x \in S : \A y \in S : ~Lt(x, y)
MinOf(S, Lt(_, _)) == CHOOSE x \in S : \A y \in S : ~Lt(y, x)
RECURSIVE FoldSeq(_, _, _)
FoldSeq(Op(_, _), acc, s) == IF s = <<>> THEN acc ELSE FoldSeq(Op, Op(acc, Head(s)), Tail(s))
\* one <<dst, msg>> per node of D, in ascending order (a send to a set of nodes)
Fanout(D, m) == LET ds == SortedSeq(IntLt, D) IN [i \in 1..Len(ds) |-> <<ds[i], m>>]
"""

FIFO = r"""
\* ---- the network: one FIFO channel per ordered pair of nodes ----------------
NoMessages == [s \in Node |-> [d \in Node |-> <<>>]]
\* channels n after node `from` sent `out`, in order; sends to a node that is down (not u[d]) are
\* dropped; a disconnect empties both channels between `from` and its node
Sent(n, from, out, u) ==
    FoldSeq(LAMBDA acc, p :
                IF IsDisconnect(p[2]) THEN [acc EXCEPT ![from][p[1]] = <<>>, ![p[1]][from] = <<>>]
                ELSE IF u[p[1]] THEN [acc EXCEPT ![from][p[1]] = @ \o <<p[2]>>] ELSE acc,
            n, out)
{cut}
RemoveAt(s, k) == SubSeq(s, 1, k - 1) \o SubSeq(s, k + 1, Len(s))
"""

UNORDERED = r"""
\* ---- the network: a bag (multiset) of in-flight messages -------------------
\* a bag is a function from entries to their number of copies (>= 1)
NoMessages == [x \in {} |-> 0]
Entry(s, d, m) == [src |-> s, dst |-> d, msg |-> m]
BagAdd(b, x) == IF x \in DOMAIN b THEN [b EXCEPT ![x] = @ + 1] ELSE [y \in DOMAIN b \cup {x} |-> IF y = x THEN 1 ELSE b[y]]
BagRemove(b, x) == IF b[x] = 1 THEN [y \in DOMAIN b \ {x} |-> b[y]] ELSE [b EXCEPT ![x] = @ - 1]
RECURSIVE CopiesIn(_, _)
CopiesIn(b, S) == IF S = {} THEN 0 ELSE LET x == CHOOSE y \in S : TRUE IN b[x] + CopiesIn(b, S \ {x})
\* messages in flight from s to d
InFlight(b, s, d) == CopiesIn(b, {x \in DOMAIN b : x.src = s /\ x.dst = d})
\* the bag b after node `from` sent `out`, in order; sends to a node that is down (not u[d]) are
\* dropped; a disconnect loses every message between `from` and its node, either way
Sent(b, from, out, u) ==
    FoldSeq(LAMBDA acc, p :
                IF IsDisconnect(p[2]) THEN [x \in {y \in DOMAIN acc : {y.src, y.dst} # {from, p[1]}} |-> acc[x]]
                ELSE IF u[p[1]] THEN BagAdd(acc, Entry(from, p[1], p[2])) ELSE acc,
            b, out)
{cut}
"""



def network(fifo: bool) -> str:
    """The network's operators, `Cut` written from the one rule of model/system.py."""
    return (FIFO if fifo else UNORDERED).replace("{cut}", cut(fifo))


def cut(fifo: bool) -> str:
    """`Cut(n, c)`: the network after node c crashed, by `system.breaks_on_crash`, probed on a
    message from c, one to c, and one between two other nodes (which no crash may lose)."""
    from_c, to_c = system.breaks_on_crash(fifo, 0, 1, 0), system.breaks_on_crash(fifo, 1, 0, 0)
    if system.breaks_on_crash(fifo, 1, 2, 0):
        raise AssertionError("the TLA+ export writes crashes that lose only the crashed node's messages")
    if fifo:
        broken = " \\/ ".join(cond for cond, hit in (("s = c", from_c), ("d = c", to_c)) if hit)
        comment = {(True, True): r"\* a crashed node's connections break: its channels in both directions are emptied",
                   (True, False): r"\* a crash empties the channels from the crashed node",
                   (False, True): r"\* a crash empties the channels to the crashed node",
                   (False, False): r"\* a crash leaves the channels as they are"}[(from_c, to_c)]
        body = rf"[s \in Node |-> [d \in Node |-> IF {broken} THEN <<>> ELSE n[s][d]]]" if broken else "n"
        return f"{comment}\nCut(n, c) == {body}"
    kept = " /\\ ".join(cond for cond, hit in (("y.src # c", from_c), ("y.dst # c", to_c)) if hit)
    lost = " and ".join(side for side, hit in (("from", from_c), ("to", to_c)) if hit)
    comment = rf"\* messages {lost} a crashed node are lost" if lost else r"\* a crash loses no message in flight"
    body = rf"[x \in {{y \in DOMAIN b : {kept}}} |-> b[x]]" if kept else "b"
    return f"{comment}\nCut(b, c) == {body}"


# whether a step's sends fit the channels' capacity
FIFO_CAN_SEND = r"""CanSend(n, from, out, u) ==
    LET after == Sent(n, from, out, u) IN \A i \in DOMAIN out : Len(after[from][out[i][1]]) <= CAPACITY
"""
UNORDERED_CAN_SEND = r"""CanSend(b, from, out, u) ==
    LET after == Sent(b, from, out, u) IN
    \A d \in {out[i][1] : i \in {j \in DOMAIN out : ~IsDisconnect(out[j][2])}} : InFlight(after, from, d) <= CAPACITY
"""
UNBOUNDED_CAN_SEND = "CanSend(n, from, out, u) == TRUE  \\* channels are unbounded\n"
