"""Node configuration from TOML: real durations for the spec's abstract timers, and I/O knobs.

A spec's timers fire "at any moment" for the checker; a real node fires each one
periodically and lets the handler's guard decide whether it acts. A timer may also be a
failure detector: with `reset_on`, it fires only after `period` seconds in which the node
received none of the listed messages (a follower's election timeout restarts on every
heartbeat from its leader). With `watch`, the variable that holds the peer it watches, only
that peer's messages postpone it (a follower waiting for a new leader is not kept waiting by
proposals of one it left), its period starts over when the variable changes, and it fires at
once when the connection to that peer breaks (a follower whose leader's process died goes
back to election without waiting out the period, as a ZooKeeper follower does when its
leader's socket closes). A timer of period 0 is prompt: it fires after each burst of the
node's steps, once their saves are made and their messages handed to the network, again
while it takes a step (a step the spec takes as soon as it is enabled, in a step of its own:
ZAB's leader logging the proposals it has sent).

A service's own knobs and the constants it raises above the checker's tiny bounds sit in a
table named after it (`[zab]`, `[gossip]`); `service` picks the service when the command
line does not.

```toml
fsync = true                # fsync persistent state before a step's messages leave
loss = 0.0                  # fraction of UDP datagrams each node drops as it sends them (unordered specs)
service = "zab"             # zab, gossip or raw (default: the one named like the spec, else raw)

[timers.default]
period = 0.1                # seconds; 0: fire after each burst of steps (prompt)
jitter = 0.2                # each period is scaled by a random factor in [1 - j, 1 + j]

[timers.election]
period = 0.8
reset_on = ["Heartbeat"]
watch = "leader"            # a variable holding a node (or an option of one); "": none

[gossip]
fanout = 6                  # peers per push round (the spec's FANOUT)
period = 1.0                # seconds between push rounds
anti_entropy = 0.5          # seconds between anti-entropy rounds (0: off; the spec's ANTI_ENTROPY)

[members.constants]        # spec/members.pnyx's bounds raised for a running group
SUSPICION = 20              # probe ticks a suspicion waits before it is confirmed

[zab]
write_timeout = 10.0        # seconds a client's write may wait to be committed here
election = "fle"            # spec/fle.pnyx names the leader; "random": follow a random peer
[zab.constants]
TXNS = 1099511627776        # merged into the spec's constants; -D overrides
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from pnyx.model.errors import PnyxError


class ConfigError(PnyxError):
    """A configuration file that cannot be read or holds a bad value."""


@dataclass(frozen=True)
class TimerConfig:
    period: float = 0.1
    jitter: float = 0.2
    reset_on: tuple[str, ...] = ()
    watch: str | None = None  # a variable naming a peer: the timer fires when the connection to it breaks

    @property
    def prompt(self) -> bool:
        """Period 0: fired after each burst of steps rather than by the clock."""
        return self.period == 0


# Durations for timer names the bundled specs use; anything else gets `timers.default`.
_FROM_LEADER = ("NewEpoch", "NewLeader", "UpToDate", "Propose", "Commit")
_FROM_FOLLOWERS = ("FollowerInfo", "AckEpoch", "AckLeader", "Ack", "Write")
BUILTIN_TIMERS: dict[str, TimerConfig] = {
    "gossip": TimerConfig(period=0.05),
    # SWIM (spec/members.pnyx): a probe takes one to three ticks (ping, ping-req, suspect)
    "probe": TimerConfig(period=0.1, jitter=0.1),
    # ZAB (spec/zab.pnyx). Its election is abstract: a LOOKING server follows a random peer,
    # which leads only if it is LOOKING too. Widely spread `elect` delays keep servers LOOKING
    # long enough to meet (tuned in the simulation: median 1 s to a new leader after a crash,
    # 3.5 s at worst over 40 seeds). Timeouts restart on traffic, so an idle leader stays.
    # A crashed leader is noticed by its closed connection (`watch`), so the timeouts only
    # catch hung peers and unanswered suggestions: a second, not half of one, which a node
    # decoding a long history in synchronization (0.4 s for 10,000 transactions) would exceed.
    # With `[zab] election = "random"` only: under FLE (the default) the service fires `elect` itself.
    "elect": TimerConfig(period=0.5, jitter=0.9),
    "heartbeat": TimerConfig(period=0.1),
    "followerTimeout": TimerConfig(period=1.0, jitter=0.3, reset_on=_FROM_LEADER, watch="leader"),
    "leaderTimeout": TimerConfig(period=1.0, jitter=0.3, reset_on=_FROM_FOLLOWERS),
    # FLE (spec/fle.pnyx, the ZAB service's election by default: impl/zab_election.py). The finalize
    # wait ends once no notification came for `period` (ZooKeeper's finalizeWait, 200 ms there;
    # loopback round trips take well under a millisecond). `lookingTimeout`: how long a server may
    # stay LOOKING in ZAB after FLE decided (a leader no follower joins) before a new round.
    "finalize": TimerConfig(period=0.1, jitter=0.2, reset_on=("Note",)),
    # a LOOKING server that heard nothing for `period` sends its vote again (ZooKeeper's notTimeout,
    # 200 ms there, doubling): notifications sent before a peer was listening are not lost for good
    "resend": TimerConfig(period=0.2, jitter=0.2, reset_on=("Note",)),
    "lookingTimeout": TimerConfig(period=1.0, jitter=0.3),
    # the leader logs its proposals right after sending them: its fsync overlaps the followers'
    "logProposals": TimerConfig(period=0.0, jitter=0.0),
}


@dataclass
class GossipConfig:
    """The gossip service's knobs (impl/gossip_service.py). The defaults are the classic
    ones (fanout 6, a round a second); docs/gossip.md measures what fanout buys."""

    fanout: int = 6  # peers a node pushes news to per round: the spec's FANOUT (a constant given in [gossip.constants] wins)
    period: float = 1.0  # seconds between push rounds: the period of the spec's `gossip` timer in the service
    anti_entropy: float = 0.5  # seconds between anti-entropy rounds; 0 turns them off
    anti_entropy_jitter: float = 0.3  # each round's period is scaled by a factor in [1 - j, 1 + j]
    exchange_timeout: float = 2.0  # seconds before an unanswered anti-entropy exchange is given up (the spec's exchangeTimeout)
    # Write ids are Lamport clocks times N: the checker's WRITES=2 would stop the third put.
    # The checker bounds the exchanges given up (TIMEOUTS); a node gives up as often as it must.
    constants: dict[str, int] = field(default_factory=lambda: {"WRITES": 2**62, "TIMEOUTS": 2**30})


@dataclass
class ZabConfig:
    """The ZAB service's knobs (impl/zab_service.py)."""

    write_timeout: float = 10.0  # seconds a write may wait to be committed at the server asked
    resubmit: float = 1.5  # seconds before an uncommitted write is submitted again (its leader may have died)
    retry: float = 0.02  # seconds between attempts while no leader takes writes (an election)
    # A tree snapshot is taken once the transactions applied since the newest one reach
    # max(RETAIN, snapshot_share x znodes), times a factor drawn in [1/2, 1) per snapshot: its
    # O(znodes) cost per write stays bounded, as does the log kept (and replayed) until then.
    snapshot_share: float = 0.25
    # "fle": spec/fle.pnyx names the leader (ZooKeeper's Fast Leader Election: the best (epoch, zxid,
    # id) of a quorum); "random": a LOOKING server follows a random peer (zab.pnyx's abstract election)
    election: str = "fle"
    # Transactions, values and epochs are unbounded in practice; the checker explores tiny ones.
    # RETAIN: committed transactions a log keeps before compacting them into the snapshot (spec/zab.pnyx).
    constants: dict[str, int] = field(default_factory=lambda: {"TXNS": 2**40, "VALUES": 2**62, "MAX_EPOCH": 2**30,
                                                               "TIMEOUTS": 2**30, "RETAIN": 10_000})


@dataclass
class MembersConfig:
    """The members service's constants (impl/members_service.py): the checker's tiny bounds
    raised to what a running group needs. docs/members.md explains each."""

    constants: dict[str, int] = field(default_factory=lambda: {
        "K": 3,  # members asked to ping a target indirectly, as in the SWIM paper's experiments
        "SUSPICION": 20,  # probe ticks (2 s at 0.1 s) a suspicion waits: time for the refutation to spread
        "MAX_INC": 2**30,  # refutations a member can make
        "WINDOW": 2**30,  # unanswered pings per peer: the checker's bound, never reached by a running group
    })


@dataclass
class RawConfig:
    """The raw service has no knobs; constants it should raise can still be given."""

    constants: dict[str, int] = field(default_factory=dict)


@dataclass
class Config:
    timers: dict[str, TimerConfig] = field(default_factory=lambda: dict(BUILTIN_TIMERS))
    default_timer: TimerConfig = field(default_factory=TimerConfig)
    fsync: bool = True
    loss: float = 0.0  # fraction of UDP datagrams dropped at the sender: a lossy network on loopback
    host: str = "127.0.0.1"
    service: str | None = None  # None: `cluster start` infers it from the spec
    gossip: GossipConfig = field(default_factory=GossipConfig)
    zab: ZabConfig = field(default_factory=ZabConfig)
    members: MembersConfig = field(default_factory=MembersConfig)
    raw: RawConfig = field(default_factory=RawConfig)

    def timer(self, name: str) -> TimerConfig:
        return self.timers.get(name, self.default_timer)

    def constants(self, service: str) -> dict[str, int]:
        """The constants a service raises (empty for a service without a table here)."""
        section = self.sections().get(service)
        if section is None:
            return {}
        if isinstance(section, GossipConfig):
            return {"FANOUT": section.fanout, "ANTI_ENTROPY": section.anti_entropy > 0, **section.constants}
        return dict(section.constants)

    def sections(self) -> dict[str, GossipConfig | ZabConfig | MembersConfig | RawConfig]:
        """Each service's table, by service name."""
        return {"gossip": self.gossip, "zab": self.zab, "members": self.members, "raw": self.raw}


def _number(where: str, v: Any, lo: float = 0.0, allow_zero: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ConfigError(f"{where}: expected a number of seconds, got {v!r}")
    if v < lo or (v == lo and not allow_zero):
        raise ConfigError(f"{where}: expected a number above {lo}, got {v!r}")
    return float(v)


def _timer(where: str, raw: Any, base: TimerConfig) -> TimerConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table with period, jitter, reset_on")
    t = base
    for k, v in raw.items():
        if k == "period":
            t = replace(t, period=_number(f"{where}.period", v, allow_zero=True))  # 0: prompt
        elif k == "jitter":
            j = _number(f"{where}.jitter", v, allow_zero=True)
            if j >= 1:
                raise ConfigError(f"{where}.jitter: expected a fraction below 1, got {v!r}")
            t = replace(t, jitter=j)
        elif k == "reset_on":
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ConfigError(f"{where}.reset_on: expected a list of message names")
            t = replace(t, reset_on=tuple(v))
        elif k == "watch":
            if not isinstance(v, str):
                raise ConfigError(f"{where}.watch: expected the name of a variable holding a node, as \"leader\" (\"\": none)")
            t = replace(t, watch=v or None)
        else:
            raise ConfigError(f"{where}: unknown setting {k!r} (known: period, jitter, reset_on, watch)")
    return t


CHOICES: dict[str, tuple[str, ...]] = {"election": ("fle", "random")}  # a service's text settings and their values


def _section(where: str, raw: Any, base: Any) -> Any:
    """A service's table: each key must be one of its fields, of that field's kind."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    known = {f.name: getattr(base, f.name) for f in fields(base)}
    out = base
    for k, v in raw.items():
        if k not in known:
            raise ConfigError(f"{where}: unknown setting {k!r} (known: {', '.join(known)})")
        cur = known[k]
        if k == "constants":
            if not isinstance(v, dict) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v.values()):
                raise ConfigError(f"{where}.constants: expected a table of integer constants, as TXNS = 1000")
            out = replace(out, constants={**cur, **v})
        elif isinstance(cur, str):
            allowed = CHOICES.get(k, ())
            if v not in allowed:
                raise ConfigError(f"{where}.{k}: expected one of {', '.join(map(repr, allowed))}, got {v!r}")
            out = replace(out, **{k: v})
        elif isinstance(cur, int):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{where}.{k}: expected a positive integer, got {v!r}")
            out = replace(out, **{k: v})
        else:
            x = _number(f"{where}.{k}", v, allow_zero=k in ("anti_entropy", "anti_entropy_jitter"))
            if k.endswith("jitter") and x >= 1:
                raise ConfigError(f"{where}.{k}: expected a fraction below 1, got {v!r}")
            out = replace(out, **{k: x})
    return out


def parse_config(raw: dict[str, Any], where: str = "config") -> Config:
    cfg = Config()
    for k, v in raw.items():
        if k == "fsync":
            if not isinstance(v, bool):
                raise ConfigError(f"{where}: fsync: expected true or false, got {v!r}")
            cfg.fsync = v
        elif k == "loss":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
                raise ConfigError(f"{where}: loss: expected a fraction of datagrams from 0 up to (not including) 1, got {v!r}")
            cfg.loss = float(v)
        elif k == "service":
            if not isinstance(v, str) or not v:
                raise ConfigError(f"{where}: service: expected a service name such as \"zab\", \"gossip\" or \"raw\"")
            cfg.service = v
        elif k in cfg.sections():
            setattr(cfg, k, _section(f"{where}: {k}", v, cfg.sections()[k]))
        elif k == "host":
            if not isinstance(v, str) or not v:
                raise ConfigError(f"{where}: host: expected an address such as 127.0.0.1")
            cfg.host = v
        elif k == "timers":
            if not isinstance(v, dict):
                raise ConfigError(f"{where}: timers: expected a table of timer tables")
            if "default" in v:
                cfg.default_timer = _timer(f"{where}: timers.default", v["default"], cfg.default_timer)
            for name, t in v.items():
                if name != "default":
                    cfg.timers[name] = _timer(f"{where}: timers.{name}", t, cfg.timers.get(name, cfg.default_timer))
        else:
            hint = " (the gossip service's anti_entropy now sits in [gossip])" if k == "anti_entropy" else ""
            known = ", ".join(["fsync", "loss", "host", "service", "timers", *cfg.sections()])
            raise ConfigError(f"{where}: unknown setting {k!r} (known: {known}){hint}")
    return cfg


def load_config(path: str | Path | None) -> Config:
    """The defaults, overridden by a TOML file when one is given."""
    if path is None:
        return Config()
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such configuration file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}") from None
    return parse_config(raw, str(p))


def to_toml(cfg: Config) -> str:
    """The configuration as TOML (written into a cluster's directory for its nodes)."""
    lines = [f"fsync = {'true' if cfg.fsync else 'false'}", f"loss = {cfg.loss}", f'host = "{cfg.host}"']
    if cfg.service is not None:
        lines.append(f'service = "{cfg.service}"')
    items = [("default", cfg.default_timer)] + sorted(cfg.timers.items())
    for name, t in items:
        lines += ["", f"[timers.{name}]", f"period = {t.period}", f"jitter = {t.jitter}"]
        if t.reset_on:
            lines.append("reset_on = [" + ", ".join(f'"{m}"' for m in t.reset_on) + "]")
        if t.watch:
            lines.append(f'watch = "{t.watch}"')
    for sname, section in cfg.sections().items():
        knobs = [f for f in fields(section) if f.name != "constants"]
        if knobs:
            lines += ["", f"[{sname}]"] + [f"{f.name} = {_toml_value(getattr(section, f.name))}" for f in knobs]
        if section.constants:
            lines += ["", f"[{sname}.constants]"] + [f"{k} = {v}" for k, v in sorted(section.constants.items())]
    return "\n".join(lines) + "\n"


def _toml_value(v: Any) -> str:
    return f'"{v}"' if isinstance(v, str) else str(v)
