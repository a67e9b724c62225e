"""Epidemic dissemination measured on the specs' own compiled handlers, against the literature.

Demers et al., "Epidemic algorithms for replicated database maintenance" (PODC 1987), Table 1
(rumor mongering with feedback and a counter, push, n = 1000), and the same measures for the
other variants of spec/gossip_rumor.pnyx; rounds to convergence of spec/gossip_antientropy.pnyx;
and the push protocol of spec/gossip.pnyx (fanout f, never back, never twice) against the usual
estimate log_{1+f}(n) + ln(n)/f rounds.

The driver is lean and round-based: a cycle fires every site's timer (in a random order), then
delivers the messages those steps sent, and the messages *those* deliveries send (a reply, a
pull's answer), before the next cycle: a site infected during cycle t first acts in cycle t+1.
Every state change is a call of a compiled handler function (`HandlerEntry.fn`, as
pnyx.impl.node runs them); the driver only routes messages and counts. pnyx.impl.sim would run
the same transitions with virtual clocks and a network of packets, about 20x slower.

The paper leaves three conventions unstated; Table 1 is printed under each reading of them
(`Reading`, `READINGS`): the counter in a row or over a site's life (the spec's IN_A_ROW), a
push answered from its recipient's state on arrival or at the cycle's start, and a new site
pushing from the next cycle or within the same one. docs/gossip.md says which reading matches
and why; the other tables use that one (`LIKELY`).

Measures (Demers's): residue s, the fraction of sites that never hear the news; traffic m,
pushes of the news per site; t_ave and t_last, the mean and the last cycle at which a site
first holds it (the writer holds it at cycle 0). Each row is a mean over `--runs` runs with a
95% confidence half-width (Student t).

    .venv/bin/python benchmarks/bench_epidemics.py            # the tables, about 7 CPU minutes
    .venv/bin/python benchmarks/bench_epidemics.py --readings-only   # Tables 1 and 2 under each reading
    .venv/bin/python benchmarks/bench_epidemics.py --plots docs   # and the charts (matplotlib)
    .venv/bin/python benchmarks/bench_epidemics.py --smoke    # tiny
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pnyx.model.compiler import CompiledSpec, HandlerEntry

ROOT = Path(__file__).resolve().parent.parent
RUMOR = ROOT / "spec" / "gossip_rumor.pnyx"
ANTI_ENTROPY = ROOT / "spec" / "gossip_antientropy.pnyx"
PUSH = ROOT / "spec" / "gossip.pnyx"

# Demers et al. 1987 as printed (the digits say how it was rounded), n = 1000; k -> (s, m, t_ave, t_last).
# Table 1: feedback, counter, push.
DEMERS_TABLE_1 = {1: ("0.18", "1.7", "11.0", "16.8"), 2: ("0.037", "3.3", "12.1", "16.9"), 3: ("0.011", "4.5", "12.5", "17.4"),
                  4: ("0.0036", "5.6", "12.7", "17.5"), 5: ("0.0012", "6.7", "12.8", "17.7")}
# Table 2: blind, coin, push.
DEMERS_TABLE_2 = {1: ("0.96", "0.04", "19", "38"), 2: ("0.20", "1.6", "17", "33"), 3: ("0.060", "2.8", "15", "32"),
                  4: ("0.021", "3.9", "14.1", "32"), 5: ("0.008", "4.9", "13.8", "32")}


@contextmanager
def _many_nodes(n: int) -> Iterator[None]:
    """Allow `n` nodes while compiling: the type checker caps N at what the model checker
    explores and a cluster starts (100); a round-based simulation is bounded by neither."""
    from pnyx.model import typecheck

    old = typecheck.MAX_NODES
    typecheck.MAX_NODES = max(old, n)
    try:
        yield
    finally:
        typecheck.MAX_NODES = old


def compile_spec(path: Path, consts: dict[str, object]) -> CompiledSpec:
    from pnyx.model.compiler import load

    n = consts.get("N", 3)
    with _many_nodes(n if isinstance(n, int) else 3):
        return load(str(path), consts)


@dataclass
class Run:
    """One dissemination: when each site first held the news, and the pushes of it."""

    n: int
    infected_at: list[int]  # cycle per site, -1: never
    pushes: int
    cycles: int
    curve: list[int] = field(default_factory=list)  # sites holding the news after each cycle
    push_cycles: int = 0  # the sum over pushes of the cycle each was sent in

    @property
    def t_push(self) -> float:
        """The mean cycle of a push: when the traffic happens (every arrival, not only the first)."""
        return self.push_cycles / max(self.pushes, 1)

    @property
    def residue(self) -> float:
        return self.infected_at.count(-1) / self.n

    @property
    def traffic(self) -> float:
        return self.pushes / self.n

    @property
    def t_ave(self) -> float:
        ts = [t for t in self.infected_at if t >= 0]
        return sum(ts) / len(ts)

    @property
    def t_last(self) -> int:
        return max(self.infected_at)


@dataclass(frozen=True)
class Reading:
    """One reading of what Demers et al. leave unstated about their simulation (docs/gossip.md).

    `in_a_row` is protocol (spec/gossip_rumor.pnyx's IN_A_ROW); the other two are the driver's
    timing inside a cycle, which the spec does not fix."""

    name: str
    in_a_row: bool = True  # the counter restarts at a necessary contact (else K unnecessary ones in all)
    judged: str = "arrival"  # a push is answered from the recipient's state as it arrives, or at "cycle-start"
    timing: str = "next-cycle"  # a site infected in cycle t first pushes in t + 1, or "same-cycle"

    def __post_init__(self) -> None:
        if self.judged not in ("arrival", "cycle-start") or self.timing not in ("next-cycle", "same-cycle"):
            raise ValueError(f"reading {self.name}: judged arrival|cycle-start, timing next-cycle|same-cycle")
        if self.judged == "cycle-start" and self.timing == "same-cycle":
            raise ValueError(f"reading {self.name}: pushes answered at the cycle's start cannot infect within it")


READINGS = (
    Reading("in a row, on arrival"),
    Reading("lifetime, on arrival", in_a_row=False),
    Reading("in a row, at cycle start", judged="cycle-start"),
    Reading("lifetime, at cycle start", in_a_row=False, judged="cycle-start"),
    Reading("in a row, same cycle", timing="same-cycle"),
)
LIKELY = READINGS[2]  # the one that matches the paper (docs/gossip.md says why)


class Driver:
    """Round-based driver over a compiled spec's handler functions (no network model, no clock).

    A cycle fires every site's timer in a random order. With `timing` "next-cycle" the pushes
    are delivered after every timer fired, so a site infected in cycle t first pushes in t + 1;
    with "same-cycle" each push and what it causes (the reply) are delivered before the next
    site's timer, so a site infected early in a cycle may push later in it. With `judged`
    "cycle-start" the messages of one wave (the pushes, then the replies) arrive at once: each
    is handled against its recipient's state at the start of the wave, so two pushes that reach
    the same susceptible site in one cycle both find it ignorant (both necessary contacts)."""

    def __init__(self, cs: CompiledSpec, seed: int, judged: str = "arrival", timing: str = "next-cycle",
                 until_quiet: bool = False) -> None:
        from pnyx.model.runtime import RandomChooser

        self.cs = cs
        self.n = cs.n_nodes
        self.rng = random.Random(seed)
        self.chooser = RandomChooser(self.rng)
        self.judged, self.timing, self.until_quiet = judged, timing, until_quiet
        self.states = [cs.init_node(i) for i in range(self.n)]
        self.value = next(v.slot for v in cs.vars if v.name == "value")
        self.timer = cs.timers[0]
        self.write = next(h for h in cs.requests if h.name == "write")
        self.handlers = cs.message_handlers
        self.news = {m.id for m in cs.messages if m.name in ("Push", "Exchange", "Answer")}
        self.pushes = 0
        self.push_cycles = 0
        self.cycle = 0
        self.infected = [-1] * self.n
        self.have = 0

    def _step(self, handlers: tuple[HandlerEntry, ...], node: int, state: tuple, args: tuple) -> tuple | None:
        """The first enabled handler's (new state, sends) from `state`, or None; counts the news sent."""
        for h in handlers:
            r = h.fn(node, state, *args, self.chooser)
            if r is not None:
                self._count(r[1])
                return r
        return None

    def _call(self, h: HandlerEntry, node: int, args: tuple) -> list:
        r = self._step((h,), node, self.states[node], args)
        if r is None:
            return []
        self.states[node] = r[0]
        return r[1]

    def _count(self, sends: list) -> None:
        """Count the messages that carry the news (a Push, a pull's non-empty answer)."""
        for _, m in sends:
            if m[0] in self.news and m[1] > 0:
                self.pushes += 1
                self.push_cycles += self.cycle

    def _note(self, node: int, cycle: int) -> None:
        if self.infected[node] < 0 and self.states[node][self.value] > 0:
            self.infected[node] = cycle
            self.have += 1

    def _deliver_in_turn(self, queue: deque, cycle: int) -> None:
        """Each message against its recipient's current state, the messages it causes after the rest."""
        while queue:
            src, dst, m = queue.popleft()
            r = self._step(self.handlers[m[0]], dst, self.states[dst], (src,) + m[1:])
            if r is not None:
                self.states[dst] = r[0]
                queue.extend((dst, d, x) for d, x in r[1])
                self._note(dst, cycle)

    def _deliver_at_once(self, wave: list, cycle: int) -> None:
        """Waves of simultaneous messages, each against its recipient's state at the wave's start.
        Messages to one site must then agree on its next state (true of a push: adopt the newest)."""
        while wave:
            start = {dst: self.states[dst] for _, dst, _ in wave}
            after: dict[int, tuple] = {}
            caused = []
            for src, dst, m in wave:
                r = self._step(self.handlers[m[0]], dst, start[dst], (src,) + m[1:])
                if r is None:
                    continue
                if after.get(dst, r[0]) != r[0]:
                    raise ValueError(f"messages to node {dst} delivered at once disagree on its state")
                after[dst] = r[0]
                caused.extend((dst, d, x) for d, x in r[1])
            for dst, state in after.items():
                self.states[dst] = state
                self._note(dst, cycle)
            wave = caused

    def run(self, writer: int = 0, max_cycles: int = 1000) -> Run:
        self._call(self.write, writer, (1,))
        self._note(writer, 0)
        curve = [1]
        order = list(range(self.n))
        quiet = 0
        cycle = 0
        while cycle < max_cycles and (self.until_quiet or self.have < self.n):
            cycle += 1
            self.cycle = cycle
            self.rng.shuffle(order)
            sent = False
            queue: deque = deque()
            for i in order:
                sends = self._call(self.timer, i, ())
                sent = sent or bool(sends)
                queue.extend((i, dst, m) for dst, m in sends)
                if self.timing == "same-cycle":
                    self._deliver_in_turn(queue, cycle)
            if self.judged == "cycle-start":
                self._deliver_at_once(list(queue), cycle)
            else:
                self._deliver_in_turn(queue, cycle)
            if not sent:
                quiet += 1
                if quiet > 1 or self.until_quiet:  # nobody acts any more: the rumor died
                    break
            curve.append(self.have)
        return Run(self.n, self.infected, self.pushes, cycle, curve, self.push_cycles)


def runs(path: Path, consts: dict[str, object], count: int, seed0: int = 0, reading: Reading | None = None) -> list[Run]:
    """`count` seeded runs from a random writer; with a reading, as rumor mongering: until the rumor dies."""
    extra = {} if reading is None else {"IN_A_ROW": reading.in_a_row}
    cs = compile_spec(path, {"WRITES": 1, **consts, **extra})
    out = []
    for k in range(count):
        d = (Driver(cs, seed0 + k) if reading is None
             else Driver(cs, seed0 + k, reading.judged, reading.timing, until_quiet=True))
        out.append(d.run(writer=d.rng.randrange(d.n)))
    return out


def mean_ci(xs: list[float]) -> tuple[float, float]:
    """Mean and 95% half-width (Student t; normal beyond 30 samples)."""
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return m, float("nan")
    t = {2: 12.71, 3: 4.30, 4: 3.18, 5: 2.78, 6: 2.57, 8: 2.36, 10: 2.26, 15: 2.14, 20: 2.09, 30: 2.05}
    q = next((v for k, v in sorted(t.items()) if len(xs) <= k), 1.96)
    return m, q * statistics.stdev(xs) / math.sqrt(len(xs))


def half_unit(printed: str) -> float:
    """Half a unit in the last digit of a printed number (0.0036: 0.00005; 19: 0.5): its rounding."""
    return 0.5 * 10 ** -(len(printed.split(".")[1]) if "." in printed else 0)


def fmt(m: float, h: float, digits: int) -> str:
    return f"{m:.{digits}f}" + ("" if math.isnan(h) else f"±{h:.{digits}f}")


def rumor_table(title: str, consts: dict[str, object], n: int, count: int, ks: list[int],
                paper: dict[int, tuple[str, ...]] | None, reading: Reading = LIKELY) -> dict[int, list[Run]]:
    """One variant for k in `ks` beside the paper's table; with the paper's, the worst gap per column."""
    print(f"\n{title} (n = {n}, {count} runs per k; reading: {reading.name}; paper: Demers et al. 1987)")
    print(f"{'k':>2}  {'s':>16} {'paper':>7}  {'m':>12} {'paper':>5}  {'t_ave':>11} {'paper':>5}  {'t_last':>11} {'paper':>5}"
          f"  {'t_push':>6}")
    out = {}
    worst: list[tuple[float, int]] = [(0.0, 0)] * 4
    outside: list[list[int]] = [[], [], [], []]  # k where the paper's value (± its rounding) misses our 95% interval
    for k in ks:
        rs = runs(RUMOR, {"N": n, "K": k, **consts}, count, seed0=1000 * k, reading=reading)
        out[k] = rs
        cols = [mean_ci([r.residue for r in rs]), mean_ci([r.traffic for r in rs]),
                mean_ci([r.t_ave for r in rs]), mean_ci([float(r.t_last) for r in rs])]
        p = (paper or {}).get(k)
        ps = list(p) if p else ["-"] * 4
        if p:
            worst = [max(w, ((c[0] - float(x)) / float(x), k), key=lambda t: abs(t[0])) for w, c, x in zip(worst, cols, p)]
            for ks_out, c, x in zip(outside, cols, p):
                if not abs(c[0] - float(x)) <= c[1] + half_unit(x):
                    ks_out.append(k)
        print(f"{k:>2}  {fmt(*cols[0], 4):>16} {ps[0]:>7}  {fmt(*cols[1], 2):>12} {ps[1]:>5}  "
              f"{fmt(*cols[2], 2):>11} {ps[2]:>5}  {fmt(*cols[3], 2):>11} {ps[3]:>5}"
              f"  {statistics.fmean(r.t_push for r in rs):>6.2f}")
    if paper:
        names = ("s", "m", "t_ave", "t_last")
        print("    largest gap from the paper: " + ", ".join(
            f"{name} {100 * g:+.0f}% (k={k})" for name, (g, k) in zip(names, worst)))
        print("    paper (± its rounding) outside our 95% interval: " + (", ".join(
            f"{name} at k={','.join(map(str, o))}" for name, o in zip(names, outside) if o) or "nowhere"))
    return out


def anti_entropy_table(n: int, count: int) -> dict[str, list[Run]]:
    print(f"\nAnti-entropy, one exchange per site per cycle (n = {n}, {count} runs)")
    print(f"{'mode':>9}  {'t_ave':>11}  {'t_last':>11}  {'m':>10}")
    out = {}
    for name, mode in (("push", 1), ("pull", 2), ("push-pull", 3)):
        rs = runs(ANTI_ENTROPY, {"N": n, "MODE": mode}, count, seed0=7000 + mode)
        out[name] = rs
        ta, tl = mean_ci([r.t_ave for r in rs]), mean_ci([float(r.t_last) for r in rs])
        m = mean_ci([r.traffic for r in rs])
        print(f"{name:>9}  {fmt(*ta, 2):>11}  {fmt(*tl, 2):>11}  {fmt(*m, 2):>10}")
    return out


def push_theory(n: int, f: int) -> float:
    return math.log(n) / math.log(1 + f) + math.log(n) / f


def push_table(ns: list[int], fs: list[int], count: int, budget: float, big_fs: list[int]) -> dict[tuple[int, int], list[Run]]:
    print(f"\nPush gossip, spec/gossip.pnyx (fanout f, never back, never twice): rounds until every site holds the "
          f"news; theory log_(1+f)(n) + ln(n)/f; up to {count} runs")
    print(f"{'n':>6} {'f':>2}  {'runs':>4}  {'rounds':>11}  {'theory':>6}  {'msgs/site':>9}")
    out = {}
    for n in ns:
        for f in fs if n < 10_000 else [f for f in fs if f in big_fs]:
            cs = compile_spec(PUSH, {"N": n, "FANOUT": f, "WRITES": 1, "LOSSES": 0})
            rs: list[Run] = []
            t0 = time.process_time()
            for k in range(count):
                d = Driver(cs, 500 + k)
                rs.append(d.run(writer=d.rng.randrange(n)))
                if time.process_time() - t0 > budget:
                    break
            out[(n, f)] = rs
            r = mean_ci([float(x.t_last) for x in rs])
            m = statistics.fmean(x.traffic for x in rs)
            print(f"{n:>6} {f:>2}  {len(rs):>4}  {fmt(*r, 2):>11}  {push_theory(n, f):>6.2f}  {m:>9.1f}")
    return out


def plots(where: Path, rumor: dict[str, dict[int, list[Run]]], ae: dict[str, list[Run]],
          push: dict[tuple[int, int], list[Run]]) -> list[Path]:
    """Infected fraction over cycles per variant, and traffic against residue."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def mean_curve(rs: list[Run]) -> list[float]:
        longest = max(len(r.curve) for r in rs)
        return [statistics.fmean((r.curve[i] if i < len(r.curve) else r.curve[-1]) / r.n for r in rs)
                for i in range(longest)]

    where.mkdir(parents=True, exist_ok=True)
    files = []
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    styles = {1: ":", 3: "--", 5: "-"}
    for c, (name, table) in enumerate(rumor.items()):
        for k, style in styles.items():
            if k in table:
                axes[0].plot(mean_curve(table[k])[:41], linestyle=style, color=f"C{c}", label=f"{name}, k={k}")
    axes[0].set_title("Rumor mongering (n = 1000; k = 1 dotted, 3 dashed, 5 solid)")
    for name, rs in ae.items():
        axes[1].plot(mean_curve(rs), label=name)
    axes[1].set_title("Anti-entropy (n = 1000)")
    ns = sorted({n for n, _ in push})
    big = max([n for n in ns if n <= 1000] or ns[:1])  # the n = 10,000 rows have a run or two
    for (n, f), rs in sorted(push.items()):
        if n == big:
            axes[2].plot(mean_curve(rs), label=f"fanout {f}")
    axes[2].set_title(f"Push gossip, never back, never twice (n = {big})")
    for ax in axes:
        ax.set_xlabel("cycle")
        ax.set_ylabel("fraction of sites holding the news")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    files.append(where / "gossip_infected.png")
    fig.savefig(files[-1], dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for name, table in rumor.items():
        xs = [statistics.fmean(r.traffic for r in table[k]) for k in sorted(table)]
        ys = [max(statistics.fmean(r.residue for r in table[k]), 1e-5) for k in sorted(table)]
        ax.plot(xs, ys, marker="o", label=name)
        for k, x, y in zip(sorted(table), xs, ys):
            ax.annotate(f"k={k}", (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    m = [i / 10 for i in range(1, 90)]
    ax.plot(m, [math.exp(-x) for x in m], linestyle=":", color="gray", label="s = e^-m")
    ax.set_yscale("log")
    ax.set_xlabel("traffic m (pushes per site)")
    ax.set_ylabel("residue s (sites never reached)")
    ax.set_title("Rumor mongering: traffic against residue (n = 1000)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    files.append(where / "gossip_traffic_residue.png")
    fig.savefig(files[-1], dpi=90)
    plt.close(fig)
    return files


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="sites for the rumor and anti-entropy tables")
    ap.add_argument("--runs", type=int, default=20, help="runs per row")
    ap.add_argument("--likely-runs", type=int, default=100,
                    help="runs per row of Tables 1 and 2 under the likely reading (a residue of 1 site in 1000 is noisy)")
    ap.add_argument("--push-sizes", default="100,1000,10000", help="n for the push table, comma-separated")
    ap.add_argument("--fanouts", default="1,2,3,4,5,6")
    ap.add_argument("--push-seconds", type=float, default=5.0, help="CPU seconds per push row at most (fewer runs)")
    ap.add_argument("--big-fanouts", default="2,6",
                    help="fanouts for n >= 10,000 (a run there costs about a CPU minute: each push scans every node)")
    ap.add_argument("--ae-runs", type=int, default=10, help="runs per anti-entropy row")
    ap.add_argument("--plots", metavar="DIR", help="write the PNG charts there (needs matplotlib)")
    ap.add_argument("--readings-only", action="store_true",
                    help="only Tables 1 and 2 under each reading of the paper's simulation (about a CPU minute)")
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, a few seconds")
    a = ap.parse_args(argv)
    if a.smoke:
        a.n, a.runs, a.ae_runs, a.push_sizes, a.fanouts, a.push_seconds, a.likely_runs = 60, 3, 3, "30", "1,2", 1.0, 3
    ks = [1, 2] if a.smoke else [1, 2, 3, 4, 5]
    t0 = time.process_time()
    table1 = {r: rumor_table("Rumor mongering: feedback, counter, push (Table 1)", {"FEEDBACK": True, "COIN": False},
                             a.n, a.likely_runs if r == LIKELY else a.runs, ks, DEMERS_TABLE_1, r) for r in READINGS}
    table2 = {r: rumor_table("Rumor mongering: blind, coin, push (Table 2)", {"FEEDBACK": False, "COIN": True},
                             a.n, a.likely_runs if r == LIKELY else a.runs, ks, DEMERS_TABLE_2, r)
              for r in (LIKELY, READINGS[4])}
    if a.readings_only:
        print(f"\n{time.process_time() - t0:.1f} CPU s in all")
        return 0
    rumor = {
        "feedback, counter": table1[LIKELY],
        "blind, coin": table2[LIKELY],
        "feedback, coin": rumor_table("Rumor mongering: feedback, coin, push", {"FEEDBACK": True, "COIN": True},
                                      a.n, a.runs, ks, None),
        "blind, counter": rumor_table("Rumor mongering: blind, counter, push", {"FEEDBACK": False, "COIN": False},
                                      a.n, a.runs, ks, None),
    }
    ae = anti_entropy_table(a.n, a.ae_runs)
    push = push_table([int(x) for x in a.push_sizes.split(",")], [int(x) for x in a.fanouts.split(",")],
                      a.runs, a.push_seconds, [int(x) for x in a.big_fanouts.split(",")])
    print(f"\n{time.process_time() - t0:.1f} CPU s in all")
    if a.plots:
        try:
            files = plots(Path(a.plots), rumor, ae, push)
        except ImportError:
            print("matplotlib is not installed: pip install -e '.[plots]'", file=sys.stderr)
            return 2
        print("wrote " + ", ".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    from entry import run

    run(main)
