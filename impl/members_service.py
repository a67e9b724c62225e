"""The members service: spec/members.pnyx's view of the group, shown to clients and counted.

The protocol (probes, ping-reqs, suspicion, refutation, piggybacked views) is the spec's:
one `SpecNode` runs its compiled handlers on the host's peers and timers, as the raw service
does. The spec has no client requests; what this service adds is what an operator or a
benchmark reads of it:
- `members`: this node's view, one (member, incarnation, status, changed) row per member,
  `changed` being the wall-clock time in microseconds (time.time_ns() // 1000; the wire
  carries no floats) at which this node last changed that entry, so the moment each member
  declared a crashed one dead is read after the fact;
- in `info`: how many members this node holds alive, suspect and dead, its incarnation, and
  counts of what its steps did: probes started, suspicions its own probes raised, entries
  it turned dead, refutations it made.
"""

from __future__ import annotations

import time
from typing import Any

from pnyx.model.types import EnumType, IntType, MapType, NodeType, RecordType, Type

from .node import Step
from .service import Kind, NodeHost, Requirements, Service, SpecNode, info_cell


def _is_view(t: Type) -> bool:
    if not (isinstance(t, MapType) and isinstance(t.key, NodeType) and isinstance(t.value, RecordType)):
        return False
    fields = dict(t.value.fields)
    status = fields.get("status")
    return (isinstance(fields.get("inc"), IntType) and isinstance(status, EnumType)
            and {"Alive", "Suspect", "Dead"} <= set(status.members))


VIEW = Kind("a map from nodes to records with an integer inc and a status enum of Alive, Suspect, Dead", _is_view)
PHASE = Kind("an enum with Idle", lambda t: isinstance(t, EnumType) and "Idle" in t.members)


class MembersService(Service):
    """The membership view and counts of the failure detector's work, over the spec's own handlers."""

    name = "members"
    # view: each member's entry; phase: Idle -> Direct is a probe starting (counted)
    needs = Requirements(variables=(("view", VIEW), ("phase", PHASE)))
    status_columns = (("alive", info_cell("alive")), ("suspect", info_cell("suspect")), ("dead", info_cell("dead")),
                      ("inc", info_cell("incarnation")), ("probes", info_cell("probes")))

    def __init__(self, host: NodeHost) -> None:
        super().__init__(host)
        cs = self.cs
        view = next(v for v in cs.vars if v.name == "view")
        phase = next(v for v in cs.vars if v.name == "phase")
        assert isinstance(view.type, MapType) and isinstance(view.type.value, RecordType)
        entry = view.type.value
        self.view_slot, self.phase_slot = view.slot, phase.slot
        self.inc_at = entry.field_index("inc")
        self.status_at = entry.field_index("status")
        status = dict(entry.fields)["status"]
        assert isinstance(status, EnumType)
        self.status_names = status.members
        self.alive, self.suspect, self.dead = (status.members.index(s) for s in ("Alive", "Suspect", "Dead"))
        assert isinstance(phase.type, EnumType)
        self.idle = phase.type.members.index("Idle")
        self.changed = [time.time_ns() // 1000] * cs.n_nodes
        self.counts = {"probes": 0, "suspected": 0, "declared_dead": 0, "refuted": 0}
        self.node = SpecNode(host, host.peers, on_step=self._observe)
        self.ops = {"members": self.op_members}

    async def start(self) -> None:
        self.node.start()

    def on_peer(self, src: int, payload: Any) -> None:
        self.node.deliver(src, payload)

    def _observe(self, step: Step) -> None:
        before, after = step.before[self.view_slot], step.after[self.view_slot]
        by_timer = step.handler is not None and step.handler.kind == "timer"
        if by_timer and step.before[self.phase_slot] == self.idle and step.after[self.phase_slot] != self.idle:
            self.counts["probes"] += 1
        if before == after:
            return
        now = time.time_ns() // 1000
        me = self.host.node_id
        for m, (b, a) in enumerate(zip(before, after, strict=True)):
            if a == b:
                continue
            self.changed[m] = now
            if m == me and a[self.inc_at] > b[self.inc_at]:
                self.counts["refuted"] += 1
            elif a[self.status_at] == self.suspect and by_timer:
                self.counts["suspected"] += 1
            elif a[self.status_at] == self.dead:
                self.counts["declared_dead"] += 1

    async def op_members(self) -> Any:
        view = self.node.rt.state[self.view_slot]
        return tuple((m + 1, e[self.inc_at], self.status_names[e[self.status_at]], self.changed[m])
                     for m, e in enumerate(view))

    def info(self) -> dict[str, Any]:
        view = self.node.rt.state[self.view_slot]
        statuses = [e[self.status_at] for e in view]
        return {"alive": statuses.count(self.alive), "suspect": statuses.count(self.suspect),
                "dead": statuses.count(self.dead), "incarnation": view[self.host.node_id][self.inc_at], **self.counts}
