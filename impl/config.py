"""Node configuration from TOML: real durations for the spec's abstract timers, and I/O knobs.

A spec's timers fire "at any moment" for the checker; a real node fires each one
periodically and lets the handler's guard decide whether it acts. A timer may also be a
failure detector: with `reset_on`, it fires only after `period` seconds in which the node
received none of the listed messages (a follower's election timeout restarts on every
heartbeat from its leader).

```toml
fsync = true                # fsync persistent state before a step's messages leave
anti_entropy = 0.5          # gossip service: seconds between anti-entropy rounds (0: off)

[timers.default]
period = 0.1
jitter = 0.2                # each period is scaled by a random factor in [1 - j, 1 + j]

[timers.election]
period = 0.8
reset_on = ["Heartbeat"]
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
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


# Durations for timer names the bundled specs use; anything else gets `timers.default`.
_FROM_LEADER = ("NewEpoch", "NewLeader", "UpToDate", "Propose", "Commit")
_FROM_FOLLOWERS = ("FollowerInfo", "AckEpoch", "AckLeader", "Ack", "Write")
BUILTIN_TIMERS: dict[str, TimerConfig] = {
    "gossip": TimerConfig(period=0.05),
    # ZAB (spec/zab.pnyx). Its election is abstract: a LOOKING server follows a random peer,
    # which leads only if it is LOOKING too. Widely spread `elect` delays keep servers LOOKING
    # long enough to meet (tuned in the simulation: median 1 s to a new leader after a crash,
    # 3.5 s at worst over 40 seeds). Timeouts restart on traffic, so an idle leader stays.
    "elect": TimerConfig(period=0.5, jitter=0.9),
    "heartbeat": TimerConfig(period=0.1),
    "followerTimeout": TimerConfig(period=0.5, jitter=0.3, reset_on=_FROM_LEADER),
    "leaderTimeout": TimerConfig(period=0.5, jitter=0.3, reset_on=_FROM_FOLLOWERS),
}


@dataclass
class Config:
    timers: dict[str, TimerConfig] = field(default_factory=lambda: dict(BUILTIN_TIMERS))
    default_timer: TimerConfig = field(default_factory=TimerConfig)
    fsync: bool = True
    anti_entropy: float = 0.5
    host: str = "127.0.0.1"

    def timer(self, name: str) -> TimerConfig:
        return self.timers.get(name, self.default_timer)


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
            t = replace(t, period=_number(f"{where}.period", v))
        elif k == "jitter":
            j = _number(f"{where}.jitter", v, allow_zero=True)
            if j >= 1:
                raise ConfigError(f"{where}.jitter: expected a fraction below 1, got {v!r}")
            t = replace(t, jitter=j)
        elif k == "reset_on":
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise ConfigError(f"{where}.reset_on: expected a list of message names")
            t = replace(t, reset_on=tuple(v))
        else:
            raise ConfigError(f"{where}: unknown setting {k!r} (known: period, jitter, reset_on)")
    return t


def parse_config(raw: dict[str, Any], where: str = "config") -> Config:
    cfg = Config()
    for k, v in raw.items():
        if k == "fsync":
            if not isinstance(v, bool):
                raise ConfigError(f"{where}: fsync: expected true or false, got {v!r}")
            cfg.fsync = v
        elif k == "anti_entropy":
            cfg.anti_entropy = _number(f"{where}: anti_entropy", v, allow_zero=True)
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
            raise ConfigError(f"{where}: unknown setting {k!r} (known: fsync, anti_entropy, host, timers)")
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
    lines = [f"fsync = {'true' if cfg.fsync else 'false'}", f"anti_entropy = {cfg.anti_entropy}", f'host = "{cfg.host}"']
    items = [("default", cfg.default_timer)] + sorted(cfg.timers.items())
    for name, t in items:
        lines += ["", f"[timers.{name}]", f"period = {t.period}", f"jitter = {t.jitter}"]
        if t.reset_on:
            lines.append("reset_on = [" + ", ".join(f'"{m}"' for m in t.reset_on) + "]")
    return "\n".join(lines) + "\n"
