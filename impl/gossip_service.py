"""The gossip key-value service: put and get at any node, every replica converges.

Each key is one instance of spec/gossip.pnyx's register at every node: the compiled handlers
decide what a node holds and whom it pushes to. The service only glues clients to them:
- put(key, value) mints a write id that orders writes as (Lamport clock, node id), namely
  `id = clock * N + node + 1`, and calls the spec's `write` request with it. The id is a
  `Tagged` int: the spec compares and forwards it as a number, the key and value ride along.
- Push rounds run every `[gossip] period` seconds to `fanout` peers (the spec's FANOUT),
  1 s and 6 by default, the classic choice.
- get(key) reads the local register (reads are local; replicas converge eventually).
- Anti-entropy is the spec's too (its `antientropy` and `exchangeTimeout` timers, `Digest`
  and `Answer`): every `anti_entropy` seconds each register exchanges its write id with a
  peer and the newer one wins on both sides, so a node that was down, or behind a lost
  packet, converges. The service sets the periods and turns the spec's ANTI_ENTROPY on
  (off with `anti_entropy = 0`).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace
from typing import Any

from .client import ClientError
from .config import TimerConfig
from .node import Step
from .service import INT, NodeHost, Requirements, Service, SpecNode, info_cell
from .wire import Tagged

log = logging.getLogger("pnyx.gossip")

MAX_KEY = 512  # part of the protocol (peers refuse longer keys), so not a setting


class _KeyTransport:
    """Wraps one register's messages with its key."""

    def __init__(self, host: NodeHost, key: str) -> None:
        self.host = host
        self.key = key

    def send(self, src: int, dst: int, msg: tuple) -> None:
        self.host.peers.send(src, dst, ("k", self.key, msg))


class GossipService(Service):
    """put/get of many keys, each key one instance of the spec's register."""

    name = "gossip"
    # value: the newest write id a register holds; write: how a put enters the spec.
    needs = Requirements(variables=(("value", INT),), requests=(("write", (INT,)),))
    status_columns = (("keys", info_cell("keys")), ("clock", info_cell("clock")))

    def __init__(self, host: NodeHost) -> None:
        super().__init__(host)
        cs = self.cs
        self.cfg = host.cfg.gossip
        self.value_slot = next(v.slot for v in cs.vars if v.name == "value")
        self.n = cs.n_nodes
        self.regs: dict[str, SpecNode] = {}
        self.clock = 0
        self.ops = {"put": self.op_put, "get": self.op_get, "keys": self.op_keys}

    # ---- registers ------------------------------------------------------------
    @staticmethod
    def record(key: str) -> str:
        return "g-" + hashlib.sha256(key.encode()).hexdigest()[:40]

    def _observe(self, step: Step) -> None:
        v = step.after[self.value_slot]
        if v:
            self.clock = max(self.clock, (v - 1) // self.n)

    def reg(self, key: str) -> SpecNode:
        r = self.regs.get(key)
        if r is None:
            if key not in self.regs:
                self.host.storage.save("keys", tuple(sorted(set(self.regs) | {key})))  # durable before the register
            r = SpecNode(self.host, _KeyTransport(self.host, key), record=self.record(key), on_step=self._observe)
            self.regs[key] = r
            r.start(timers=False)
            v = r.rt.state[self.value_slot]
            if v:
                self.clock = max(self.clock, (v - 1) // self.n)
        return r

    async def start(self) -> None:
        for key in self.host.storage.load("keys") or ():
            self.reg(key)
        for h in self.cs.timers:
            cfg = self._timer_config(h.name)
            if cfg is not None:
                self.host.timer(h.name, lambda h=h: self._fire(h), cfg)

    def _timer_config(self, name: str) -> TimerConfig | None:
        """The period of one of the spec's timers: the push round's and anti-entropy's are knobs of
        the service (None: anti-entropy is off, its timers never fire)."""
        cfg = self.host.cfg.timer(name)
        if name == "gossip":
            return replace(cfg, period=self.cfg.period)
        if name in ("antientropy", "exchangeTimeout") and self.cfg.anti_entropy <= 0:
            return None
        if name == "antientropy":
            return TimerConfig(period=self.cfg.anti_entropy, jitter=self.cfg.anti_entropy_jitter)
        if name == "exchangeTimeout":
            return replace(cfg, period=self.cfg.exchange_timeout)
        return cfg

    def _fire(self, h: Any) -> None:
        for r in list(self.regs.values()):
            r.rt.timer(h)

    # ---- peers ----------------------------------------------------------------
    def on_peer(self, src: int, payload: Any) -> None:
        if not isinstance(payload, tuple) or not payload:
            return
        if payload[0] == "k" and len(payload) == 3 and isinstance(payload[1], str) and len(payload[1]) <= MAX_KEY:
            self.reg(payload[1]).deliver(src, payload[2])

    # ---- clients ----------------------------------------------------------------
    @staticmethod
    def _key(key: Any) -> str:
        if not isinstance(key, str) or not key or len(key) > MAX_KEY:
            raise ClientError(f"a key is a non-empty string of at most {MAX_KEY} characters, got {key!r}")
        return key

    async def op_put(self, key: Any, value: Any) -> Any:
        key = self._key(key)
        r = self.reg(key)
        counter = self.clock + 1
        wid = Tagged(counter * self.n + self.host.node_id + 1, (key, value))
        step = r.rt.request("write", (wid,))
        if step is None:
            raise ClientError(f"put {key!r}: the spec's write request was refused at this node")
        return (counter, self.host.node_id + 1)

    async def op_get(self, key: Any) -> Any:
        key = self._key(key)
        r = self.regs.get(key)
        v = r.rt.state[self.value_slot] if r is not None else 0
        if not v or not isinstance(v, Tagged):
            return None
        return (v.payload[1], ((v - 1) // self.n, (v - 1) % self.n + 1))

    async def op_keys(self) -> Any:
        return tuple(k for k, r in sorted(self.regs.items()) if r.rt.state[self.value_slot])

    def info(self) -> dict[str, Any]:
        return {"keys": len(self.regs), "clock": self.clock}
