"""Fast Leader Election for the ZAB service: spec/fle.pnyx run beside spec/zab.pnyx on one host.

spec/zab.pnyx elects abstractly: a LOOKING server's `elect` step follows some peer (`choose p
in {q in Node where q != self}`), and the peer leads only if the follower's vote does not
rank above its own (RANKED). Which peer is the caller's to say: by default a random one
(config `[zab] election = "random"`). With `election = "fle"` (the default) this module says
it from a second spec, spec/fle.pnyx, run on the same host as a second `SpecNode`:
- its messages travel on the same peer links, tagged ("fle", message);
- when ZAB's role becomes LOOKING, FLE starts a round: `start` the first time, `restart`
  after a decision; both `choose` the server's history, and `HistoryChooser` answers them
  with ZAB's (currentEpoch, last zxid);
- its `finalize` timer is the finalize wait (config `[timers.finalize]`: it restarts on
  every notification, as ZooKeeper's finalizeWait does);
- when FLE decides FOLLOWING l and ZAB is still LOOKING, ZAB's `elect` runs now, its
  `choose` answered with l by `DecidedLeader`, which refuses a value outside the choose's
  options; when FLE decides LEADING, ZAB stays LOOKING and leads once FOLLOWERINFO comes;
- a decision after which ZAB stays LOOKING for `[timers.lookingTimeout]` (a leader no
  follower joined, a leader that refused its followers) starts a new round.
No protocol rule is written here: every step is a compiled handler of one of the two specs,
and the composition is sound because any leader FLE names is a value ZAB's `choose` may take
(docs/fle.md: FLE refines the abstract election, checked as RefinesAbstractElection).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from pnyx.model.compiler import CompiledSpec, load
from pnyx.model.types import EnumType, RecordType

from .node import HandlerError, Step, Transport
from .service import NodeHost, ServiceError, SpecNode, TimerHandle
from .storage import MemoryStorage

log = logging.getLogger("pnyx.zab")

FLE_SPEC = Path(__file__).resolve().parent.parent / "spec" / "fle.pnyx"
TAG = "fle"  # the first item of an FLE message on the peer links
ELECT = "elect"  # ZAB's election timer: run by the clock under the random election, by FLE's decisions here
HISTORY_SITES = ("e", "z")  # the `choose`s of FLE's handlers that take the server's history, in order
MAX_INT = 2**63 - 1  # a spec's integers are 64-bit: FLE's zxid range at run time
ROLES = ("LOOKING", "FOLLOWING", "LEADING")  # the members of both specs' role enums, in this order (checked)
LOOKING, FOLLOWING, LEADING = range(3)


class ElectedService(Protocol):
    """What the election uses of the ZAB service (impl/zab_service.py), which owns it."""

    host: NodeHost
    cs: CompiledSpec
    node: SpecNode  # ZAB's
    slot: dict[str, int]

    def last_zxid_of(self, st: tuple) -> tuple: ...


class ElectionError(Exception):
    """FLE's decision does not fit ZAB's choice, or ZAB's history does not fit FLE's ranges: a bug."""


def fle_spec_for(zab: CompiledSpec) -> Path:
    """The FLE spec a cluster runs: fle.pnyx beside its ZAB spec, else the one bundled with Pnyx."""
    beside = Path(zab.filename).parent / FLE_SPEC.name
    return beside if beside.is_file() else FLE_SPEC


def load_fle(zab: CompiledSpec, path: Path | None = None) -> CompiledSpec:
    """spec/fle.pnyx at run-time sizes: ZAB's servers and epochs, 64-bit zxids, rounds without bound."""
    path = path if path is not None else fle_spec_for(zab)
    if not path.is_file():
        raise ServiceError(f"the ZAB service's election is \"fle\" but {path} is missing; "
                           "set election = \"random\" in the [zab] table of the configuration to elect without it")
    cs = load(str(path), {"N": zab.n_nodes, "MAX_EPOCH": int(zab.checked.consts["MAX_EPOCH"]), "MAX_ZXID": MAX_INT,
                          "RESTARTS": 2**30, "CAP": 2**30})
    for h in cs.handlers:
        names = tuple(name for name, _ in h.choice_sites)
        if names and names != HISTORY_SITES:
            raise ServiceError(f"{path}:{h.line}: handler {h.name} chooses {', '.join(names)}; the ZAB service answers "
                               f"only the history choices {', '.join(HISTORY_SITES)} (in that order)")
    if not any(v.name == "currentEpoch" for v in zab.vars):
        raise ServiceError(f"spec {zab.name}: the FLE election needs a variable currentEpoch (the server's vote)")
    elect = [h for h in zab.timers if h.name == ELECT]
    if len(elect) != 1 or len(elect[0].choice_sites) != 1:
        raise ServiceError(f"spec {zab.name}: the FLE election needs one timer elect that chooses the peer to follow")
    for spec in (cs, zab):
        role = next((v for v in spec.vars if v.name == "role"), None)
        if role is None or not isinstance(role.type, EnumType) or role.type.members != ROLES:
            raise ServiceError(f"spec {spec.name}: the FLE election needs a variable role: enum {{ {', '.join(ROLES)} }}")
    vote_leader_index(cs)
    return cs


def vote_leader_index(fle: CompiledSpec) -> int:
    """Where the proposed leader sits in FLE's `vote` record (a record is a tuple of its fields)."""
    vote = next((v for v in fle.vars if v.name == "vote"), None)
    names = [f for f, _ in vote.type.fields] if vote is not None and isinstance(vote.type, RecordType) else []
    if "leader" not in names:
        raise ServiceError(f"spec {fle.name}: the FLE election needs a variable vote: a record with a field leader")
    return names.index("leader")


def encode_zxid(zxid: Sequence[int], txns: int) -> int:
    """ZAB's zxid (epoch, counter) as one integer in the same order (counters never exceed TXNS),
    as ZooKeeper packs (epoch, counter) into a 64-bit zxid."""
    epoch, counter = int(zxid[0]), int(zxid[1])
    return epoch * (txns + 1) + counter


class HistoryChooser:
    """Answers FLE's history choices (`e`, then `z`) with `history()`: ZAB's (currentEpoch, last zxid)
    at this moment, the zxid as one integer (`encode_zxid`). A value outside the choice's options
    is an error, never a silent clamp."""

    def __init__(self, history: Callable[[], tuple[int, int]]) -> None:
        self.history = history

    def pick(self, options: Sequence[Any], site: int = 0) -> Any:
        v = self.history()[site]
        if v not in options:
            raise ElectionError(f"this server's history {self.history()} is outside FLE's ranges at choice {site}")
        return v

    def subset(self, options: Sequence[Any], size: int, site: int = 0) -> tuple:
        raise ElectionError("FLE's handlers choose no subsets")


class DecidedLeader:
    """ZAB's chooser under FLE: answers `elect`'s choice of a peer with FLE's decided leader.

    Armed only for the step the election runs; a leader outside the options (itself, a server
    that does not exist) is refused, so the choice ZAB makes is always one its spec allows."""

    def __init__(self) -> None:
        self.leader: int | None = None
        self.refused = 0  # choices refused: stays 0 unless the composition is broken

    def pick(self, options: Sequence[Any], site: int = 0) -> Any:
        if self.leader is None or self.leader not in options:
            self.refused += 1
            raise ElectionError(f"FLE's decision {self.leader} is not among ZAB's options {tuple(options)}")
        return self.leader

    def subset(self, options: Sequence[Any], size: int, site: int = 0) -> tuple:
        raise ElectionError("ZAB's election chooses one peer, not a subset")


class _FleHost:
    """The service's host as FLE's SpecNode sees it: FLE's spec, no disk (FLE keeps nothing)."""

    def __init__(self, host: NodeHost, cs: CompiledSpec) -> None:
        self._host = host
        self.cs = cs
        self.cfg = host.cfg
        self.node_id = host.node_id
        self.storage = MemoryStorage()
        self.rng = random.Random(host.rng.getrandbits(64))
        self.rebuilt = False
        self.peers = host.peers

    def group_commit(self, rt: Any) -> None:
        self._host.group_commit(rt)

    def timer(self, name: str, callback: Any, cfg: Any = None) -> TimerHandle:
        return self._host.timer(name, callback, cfg)

    def on_peer_lost(self, listener: Any) -> None:
        self._host.on_peer_lost(listener)


class _Tagged:
    """FLE's transport: its messages on the host's peer links, tagged so the receiver routes them."""

    def __init__(self, peers: Transport) -> None:
        self.peers = peers

    def send(self, src: int, dst: int, msg: tuple) -> None:
        self.peers.send(src, dst, (TAG, msg))


class FleElection:
    """FLE's SpecNode and the few calls that tie its decisions to ZAB's `elect` (see the module's doc)."""

    def __init__(self, service: ElectedService) -> None:
        self.service = service
        host = service.host
        self.cs = load_fle(service.cs)
        self.leader = DecidedLeader()
        self.txns = int(service.cs.checked.consts["TXNS"])
        self.node = SpecNode(_FleHost(host, self.cs), _Tagged(host.peers), chooser=HistoryChooser(self.history),
                             on_step=self._fle_stepped)
        self.slot = {v.name: v.slot for v in self.cs.vars}
        self.vote_leader = vote_leader_index(self.cs)
        self.zab_elect = next(h for h in service.cs.timers if h.name == ELECT)
        self.fle_start = self.node.rt.timer_handler("start")
        self.fle_restart = self.node.rt.timer_handler("restart")
        self.watchdog: TimerHandle | None = None
        self.elections = 0  # FLE decisions that ran ZAB's `elect`

    def start(self) -> None:
        """After ZAB's node started (LOOKING): run FLE, its finalize wait from the host's clock."""
        self.node.start(skip=("start", "restart"))
        self.watchdog = self.service.host.timer("lookingTimeout", self._still_looking)
        self.look()

    def on_peer(self, src: int, msg: Any) -> None:
        self.node.deliver(src, msg)

    def history(self) -> tuple[int, int]:
        """ZAB's vote now: (currentEpoch, last zxid as one integer)."""
        st = self.service.node.rt.state
        return int(st[self.service.slot["currentEpoch"]]), encode_zxid(self.service.last_zxid_of(st), self.txns)

    # ---- the two directions ------------------------------------------------------------
    def zab_stepped(self, step: Step) -> None:
        """ZAB became LOOKING (a follower lost its leader, a leader its quorum): a new FLE round."""
        role = self.service.slot["role"]
        if step.after[role] == LOOKING and step.before[role] != LOOKING:
            self.look()

    def look(self) -> None:
        """Start an FLE round with ZAB's present history, unless one is going on."""
        st = self.node.rt.state
        if st[self.slot["round"]] == 0:
            self._run(self.fle_start)
        elif st[self.slot["role"]] != LOOKING:
            self._run(self.fle_restart)

    def _fle_stepped(self, step: Step) -> None:
        r = self.slot["role"]
        if step.after[r] == step.before[r] or step.after[r] == LOOKING:
            return
        if self.watchdog is not None:
            self.watchdog.reset()  # ZAB has `lookingTimeout` from now on to leave LOOKING
        if step.after[r] == FOLLOWING and self._zab_looking():
            self.follow(step.after[self.slot["vote"]][self.vote_leader])

    def follow(self, leader: int) -> None:
        """ZAB's `elect`, now, its choice of a peer answered with FLE's leader."""
        self.leader.leader = leader
        try:
            if self.service.node.rt.timer(self.zab_elect) is not None:
                self.elections += 1
        except HandlerError as exc:
            log.error("election: %s", exc)
        finally:
            self.leader.leader = None

    def _still_looking(self) -> None:
        """ZAB stayed LOOKING a whole `lookingTimeout` after FLE decided: elect again."""
        if self._zab_looking() and self.node.rt.state[self.slot["role"]] != LOOKING:
            self.look()

    def _zab_looking(self) -> bool:
        return self.service.node.rt.state[self.service.slot["role"]] == LOOKING

    def _run(self, h: Any) -> None:
        try:
            self.node.rt.timer(h)
        except HandlerError as exc:
            log.error("election: %s", exc)

    def info(self) -> dict[str, Any]:
        st = self.node.rt.state
        vote = st[self.slot["vote"]]
        return {"election": "fle", "fle_round": int(st[self.slot["round"]]),
                "fle_role": ROLES[st[self.slot["role"]]], "fle_vote": f"n{vote[self.vote_leader] + 1}",
                "fle_elections": self.elections, "fle_refused": self.leader.refused}
