"""The ZAB key-value service: a hierarchical store in the manner of ZooKeeper.

The protocol is spec/zab.pnyx, run by `NodeRuntime`: election, discovery, synchronization
and broadcast are its compiled handlers. The service is glue around them:
- A write (create, set, delete, sync) becomes the spec's `write(v)` request, where `v` is the
  payload `(write id, operation)`: the spec's Value is opaque (docs/language.md), so its
  handlers store, send and compare it without looking inside. At a follower the spec forwards it to the leader
  (message Write); the leader proposes it. When the spec is in no state to take writes
  (an election is going on) the service retries until the client's deadline.
- The client is answered only once the transaction is committed *at the server it asked*:
  after every step the service applies log positions `applied..commit - 1` to its replica
  (impl/zab_tree.py), in order, and resolves the waiting request. Each operation's checks
  (does the parent exist, does the expected version match, which suffix a sequential node
  gets) are made when it is applied, identically on every server, so all replicas compute
  the same tree and the same answers; the write id makes a re-submitted write apply once.
- Reads (get, ls, exists) are served from the local tree, once this server is synchronized
  with an established leader (its leader's UPTODATE arrived, or it leads); before that they
  are refused with a `syncing:` error a client may retry, so a restarted follower never
  answers from an empty or stale tree. `sync` is an empty write whose commit at this
  server guarantees every earlier write is visible here.
The committed prefix of the history never changes (the spec's CommittedPrefixesAgree and
NoCommittedTxnLost), so `applied` only grows; a restarted server re-applies from its log as
its leader tells it what is committed. Positions count from the start of the whole log: the
spec's `history` is the suffix after its snapshot's `base` transactions (0 in a spec without
snapshots).

Snapshots (impl/zab_snapshot.py). The spec compacts committed transactions out of its log
(RETAIN); they then live only in the tree. The node rewrites its own record, which drops the
compacted transactions from disk, only once a tree snapshot at or past the spec's base is
durable (`snapshot_gate`); until then its log keeps them, and a restart recovers them from the
log's replay (`replay_observer`). A tree snapshot costs O(znodes), so one is taken (in the
background, at `applied`) only once the spec compacted past the newest and the transactions
applied since it reach max(RETAIN, `snapshot_share` x znodes) times a factor drawn per
snapshot in [1/2, 1) (so servers do not snapshot together, as ZooKeeper randomizes snapCount):
its cost per write stays bounded however large the tree, and the log kept until then (what a
restart replays) stays under that many transactions plus RETAIN. docs/zab.md has the numbers.
A restart loads the newest tree snapshot, re-applies the compacted transactions past it, and
goes on from there. A leader's SNAP (NEWLEADER with `snap`) is preceded on the same connection
by frames holding its replica at `applied` (a committed prefix at or past its snapshot); the
follower writes them as its newest tree snapshot before the NEWLEADER is handled, and installs
them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from pathlib import Path
from typing import Any

from pnyx.model.types import OpaqueType, RecordType, SeqType, TupleType, Type, show

from .client import NOT_COMMITTED, SYNCING, ClientError
from .node import Step
from .service import ANY, INT, Kind, NodeHost, Requirements, Service, SpecNode, info_cell
from .storage import StorageError
from .zab_election import ELECT, FleElection
from .zab_election import TAG as FLE_TAG
from .zab_snapshot import Incoming, frames, load_newest, snapshot_interval, take, write_snapshot
from .zab_tree import PathError, Replica, check_path, fresh_incarnation

log = logging.getLogger("pnyx.zab")


def _items(t: Type) -> tuple[Type, ...] | None:
    """The item types of a tuple or a record (a record is a tuple of its fields at run time)."""
    if isinstance(t, TupleType):
        return t.items
    if isinstance(t, RecordType):
        return tuple(ft for _, ft in t.fields)
    return None


def _is_history(t: Type) -> bool:
    """A sequence of (zxid, value) pairs, tuples or records (`Txn { zxid: Zxid { epoch, counter },
    value }`): the service reads each entry's zxid and its value, a payload."""
    entry = _items(t.elem) if isinstance(t, SeqType) else None
    if entry is None or len(entry) != 2:
        return False
    zxid = _items(entry[0])
    return zxid is not None and len(zxid) == 2 and isinstance(entry[1], OpaqueType)


HISTORY = Kind("a sequence of (zxid, opaque value) pairs", _is_history)
# Only an opaque value may carry a payload: compiled code never range-checks one (an integer
# range would refuse the service's (id, operation) tuples at the first write).
OPAQUE = Kind("an opaque value", lambda t: isinstance(t, OpaqueType))


def _zxid(z: Any) -> str:
    return f"({z[0]}, {z[1]})" if isinstance(z, (tuple, list)) and len(z) == 2 else "?"


def _leader(text: Any) -> str:
    """`some(n2)` as n2, `none` as -."""
    t = str(text)
    return t[5:-1] if t.startswith("some(") and t.endswith(")") else "-" if t == "none" else t


class ZabService(Service):
    """create/set/delete/sync through the spec's `write`, reads from the tree its commits built."""

    name = "zab"
    # history: (zxid, value) pairs; commit: how many of them are committed; role, phase,
    # leader: for `info` and for knowing when reads may be served. UpToDate: the leader's
    # word that a follower is synchronized. currentEpoch, acceptedEpoch and synced (the
    # leader's synchronized followers) are shown when the spec has them.
    needs = Requirements(variables=(("history", HISTORY), ("commit", INT), ("role", ANY), ("phase", ANY), ("leader", ANY)),
                         messages=(("UpToDate", (ANY, ANY)),),
                         requests=(("write", (OPAQUE,)),))
    # As ZooKeeper's `srvr`: who leads, at which epoch and zxid, with which followers.
    status_columns = (("role", lambda x: str(x.get("role", "?")).lower()), ("epoch", info_cell("epoch")),
                      ("last zxid", lambda x: _zxid(x.get("last_zxid"))),
                      ("committed", lambda x: _zxid(x.get("committed_zxid"))),
                      ("phase", lambda x: str(x.get("phase", "?")).lower()),
                      ("leader", lambda x: _leader(x.get("leader", "?"))),
                      ("followers", lambda x: ",".join(x.get("followers") or ()) or "-"),
                      ("serving", lambda x: "yes" if x.get("serving") else "syncing"),
                      ("znodes", info_cell("znodes")))

    def __init__(self, host: NodeHost) -> None:
        super().__init__(host)
        cs = self.cs
        self.cfg = host.cfg.zab
        # who `elect` follows: FLE's decision (impl/zab_election.py), or a random peer
        self.election = FleElection(self) if self.cfg.election == "fle" else None
        self.node = SpecNode(host, _SnapSender(self, host.peers), on_step=self._on_step,
                             chooser=self.election.leader if self.election is not None else None)
        self.slot = {v.name: v.slot for v in cs.vars}
        self.var = {v.name: v for v in cs.vars}
        self.up_to_date = next(m.id for m in cs.messages if m.name == "UpToDate")
        # the snapshot's size and last zxid, when the spec compacts its log (spec/zab.pnyx)
        self.base_slot = self.slot.get("base")
        self.base_zxid_slot = self.slot.get("baseZxid")
        # NEWLEADER's id and the position of its `snap` field, when the spec has SNAPs
        new_leader = next((m for m in cs.messages if m.name == "NewLeader"), None)
        names = [f[0] for f in new_leader.fields] if new_leader is not None else []
        self.snap_msg = (new_leader.id, 1 + names.index("snap")) if "snap" in names else None
        storage_dir = getattr(host.storage, "dir", None)
        self.snap_dir: Path | None = Path(storage_dir) if storage_dir is not None else None
        self.snap_pos = 0  # the newest durable tree snapshot holds positions 0..snap_pos - 1
        self.snapshotting: asyncio.Task[int] | None = None
        self.recovered: dict[int, tuple] = {}  # position -> compacted transaction recovered from the log's replay
        self.incoming = Incoming()  # SNAP frames from leaders
        rt = self.node.rt
        # the fewest transactions between tree snapshots, and this server's factor for the next one
        self.snap_floor = max(1, int(host.cs.checked.consts.get("RETAIN", 1)))
        self.snap_factor = host.rng.uniform(0.5, 1.0)
        rt.snapshot_gate = lambda st: self._base(st) <= self.snap_pos
        rt.replay_observer = self._on_replay

        self.replica = Replica()
        self.tree = self.replica.tree
        self.applied = 0
        self.last_zxid: tuple = (0, 0)
        self.serving = False  # synchronized with an established leader: reads are answered
        # This process's writes: (node, incarnation) names its session in every replica's table
        # of applied writes; a restart is a new incarnation (a later start time, set in `start`).
        self.incarnation = 0
        self.seqs = itertools.count(1)
        self.pending: dict[int, asyncio.Future[tuple[bool, Any]]] = {}  # seq -> the client waiting
        self.payloads: dict[int, tuple] = {}  # seq -> the payload submitted, of the writes waiting in `pending`
        self.view: tuple = ()  # (role, phase, leader) after the last step
        self.ops = {"create": self.op_create, "set": self.op_set, "delete": self.op_delete, "get": self.op_get,
                    "ls": self.op_ls, "exists": self.op_exists, "sync": self.op_sync}

    async def start(self) -> None:
        if self.snap_dir is not None:
            loaded = load_newest(self.snap_dir)
            if loaded is not None:
                self.snap_pos, self.replica = loaded
                self.applied, self.tree, self.last_zxid = self.snap_pos, self.replica.tree, None
        self.node.start(skip=(ELECT,) if self.election is not None else ())
        self.incarnation = fresh_incarnation(self.host.node_id, time.time_ns() // 1_000_000,
                                             (v for _, v in self.node.rt.state[self.slot["history"]]))
        self._catch_up(self.node.rt.state)
        base = self._base(self.node.rt.state)
        if self.applied < base:  # the log's compacted prefix lives only in tree snapshots: one is gone
            raise StorageError(f"{self.snap_dir}: the log was compacted through position {base}, but the tree "
                               f"snapshots hold only positions below {self.snap_pos} (a tree-*.snap file is "
                               f"missing or was deleted)")
        self.serving = self._established(self.node.rt.state)
        if self.election is not None:
            self.election.start()

    def on_peer(self, src: int, payload: Any) -> None:
        if isinstance(payload, tuple) and payload and payload[0] == "zab-tree":
            self._snap_frame(src, payload)
            return
        if isinstance(payload, tuple) and len(payload) == 2 and payload[0] == FLE_TAG:
            if self.election is not None:
                self.election.on_peer(src, payload[1])
            return  # a server electing by FLE among ones that do not: its notifications go unanswered
        self.node.deliver(src, payload)

    # ---- snapshots ---------------------------------------------------------------------
    def _snap_frame(self, src: int, frame: tuple) -> None:
        """A frame of a leader's replica, sent before its SNAP: once complete, made durable at once
        (before the SNAP is handled, so a restart never finds the spec's new base without it).
        Each frame restarts the failure detectors that NEWLEADER restarts (config `reset_on`), so
        a transfer longer than a timeout completes."""
        if not self.incoming.add(src, frame):
            log.warning("malformed snapshot frame from n%d dropped", src + 1)
            return
        ready = self.incoming.ready.get(src)
        if ready is not None and self.snap_dir is not None:
            pos, replica = ready
            write_snapshot(self.snap_dir, pos, replica.tree.records(), replica.writes.dump(), self.host.cfg.fsync)
            self.snap_pos = max(self.snap_pos, pos)
        if self.snap_msg is not None:
            # a synchronization in progress: the leader is at work, as if its NEWLEADER had come
            # (and a long write of the snapshot above must not count as silence either)
            self.node.heard(src, self.snap_msg[0])

    def _on_replay(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        """A log entry replayed at start that compacted transactions: keep those the tree lacks."""
        b0, b1 = before.get("base", 0), after.get("base", 0)
        old = before.get("history", ())
        for i in range(max(b0, self.applied), min(b1, b0 + len(old))):
            self.recovered[i] = old[i - b0]

    def _install_snap(self, st: tuple) -> bool:
        """The step made this server's base pass what it applied (a SNAP): install the leader's replica."""
        leader = st[self.slot["leader"]]
        src = leader[0] if isinstance(leader, tuple) and leader else None
        ready = self.incoming.ready.pop(src, None) if src is not None else None
        if ready is None or ready[0] < self._base(st):
            return False
        pos, self.replica = ready
        self.tree, self.applied, self.last_zxid = self.replica.tree, pos, None
        self.recovered.clear()
        return True

    def _snapshot_when_due(self, st: tuple) -> None:
        """Snapshot the tree in the background (one at a time) once the spec compacted past the
        newest tree snapshot and enough was applied since it (see the module's docstring)."""
        if self.snap_dir is None or self._base(st) <= self.snap_pos:
            return  # nothing compacted is uncovered (or, without a directory, nothing is durable)
        if self.snapshotting is not None and not self.snapshotting.done():
            return
        interval = snapshot_interval(self.snap_floor, self.cfg.snapshot_share, len(self.tree.nodes))
        if self.applied - self.snap_pos < interval * self.snap_factor:
            return
        self.snap_factor = self.host.rng.uniform(0.5, 1.0)
        self.snapshotting = asyncio.get_running_loop().create_task(
            take(self.snap_dir, self.replica, self.applied, self.host.cfg.fsync))
        self.snapshotting.add_done_callback(self._snapshot_done)

    def _snapshot_done(self, task: asyncio.Task[int]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("tree snapshot failed: %s", exc)
            return
        self.snap_pos = max(self.snap_pos, task.result())

    # ---- applying committed transactions -------------------------------------------
    def _on_step(self, step: Step) -> None:
        st = step.after
        role, phase = self._name(st, "role"), self._name(st, "phase")
        if phase != "BROADCAST" or role not in ("LEADING", "FOLLOWING"):
            self.serving = False
        elif role == "LEADING" or (step.handler is not None and step.handler.kind == "message"
                                   and step.handler.message_id == self.up_to_date):
            self.serving = True  # an established leader committed its whole history; a follower got UPTODATE
        self._catch_up(st, step.before)
        self._snapshot_when_due(st)
        view = (st[self.slot["role"]], st[self.slot["phase"]], st[self.slot["leader"]])
        if view != self.view:
            self.view = view
            if self.payloads:
                asyncio.get_running_loop().call_soon(self._resubmit)
        if self.election is not None:
            self.election.zab_stepped(step)

    def _resubmit(self) -> None:
        """This server's leader changed: submit every uncommitted write again at once rather than
        after `resubmit` seconds (one forwarded to a dead leader died with it). Idempotent by id."""
        for payload in list(self.payloads.values()):
            if self.node.rt.request("write", (payload,)) is None:
                return  # not in broadcast yet: the writers retry every `retry` seconds meanwhile

    def _established(self, st: tuple) -> bool:
        return self._name(st, "phase") == "BROADCAST" and self._name(st, "role") == "LEADING"

    def _name(self, st: tuple, var: str) -> str:
        """An enum or option variable as the spec writes its value (LEADING, some(n2))."""
        return show(st[self.slot[var]], self.var[var].type)

    def _base(self, st: tuple) -> int:
        """How many transactions precede `history` in the log (compacted into the snapshot)."""
        return 0 if self.base_slot is None else st[self.base_slot]

    def _base_zxid(self, st: tuple) -> tuple:
        return (0, 0) if self.base_zxid_slot is None else tuple(st[self.base_zxid_slot])

    def last_zxid_of(self, st: tuple) -> tuple:
        """The zxid of the last transaction in the log (its snapshot's, when nothing is retained)."""
        history = st[self.slot["history"]]
        return tuple(history[-1][0]) if history else self._base_zxid(st)

    def _catch_up(self, st: tuple, before: tuple | None = None) -> None:
        """Apply log positions applied..commit - 1. Those a step compacted are read from the
        state `before` it (the spec compacts only what it committed, in the same step)."""
        history, commit, base = st[self.slot["history"]], st[self.slot["commit"]], self._base(st)
        if base > self.applied and self._entry(self.applied, st, before) is None and not self._install_snap(st):
            log.error("the log was compacted to %d past this server's tree (%d) and no snapshot came with it",
                      base, self.applied)
            return
        if self.last_zxid is not None and base <= self.applied - 1 < base + len(history) and commit >= self.applied \
                and history[self.applied - 1 - base][0] != self.last_zxid:
            log.error("committed history changed under the service at %d: %r", self.applied,
                      history[self.applied - 1 - base])
        while self.applied < commit:
            entry = self._entry(self.applied, st, before)
            if entry is None:
                log.error("position %d is in no log this server holds (base %d): it cannot be applied",
                          self.applied, base)
                return
            zxid, v = entry
            wid, outcome = self.replica.apply(v, zxid)
            self.recovered.pop(self.applied, None)
            self.applied += 1
            self.last_zxid = zxid
            if wid is not None and wid[0] == self.host.node_id and wid[1] == self.incarnation:
                fut = self.pending.get(wid[2])
                if fut is not None and not fut.done():
                    fut.set_result(outcome)

    def _entry(self, i: int, st: tuple, before: tuple | None) -> tuple | None:
        """The transaction at log position i, from the retained log after the step or before it, or
        from the compacted ones a restart recovered from its log."""
        if i in self.recovered:
            return self.recovered[i]
        for s in (st, before):
            if s is None:
                continue
            base, history = self._base(s), s[self.slot["history"]]
            if base <= i < base + len(history):
                return history[i - base]
        return None

    # ---- writes ------------------------------------------------------------------------
    async def _write(self, op: tuple) -> Any:
        """Submit `op` through the spec and wait until this server has applied it.

        A forwarded write dies with the leader it was sent to, so an uncommitted write is
        submitted again every `resubmit` seconds; its id makes re-submissions idempotent
        (impl/zab_tree.py's AppliedWrites: a replica applies each id once)."""
        rt = self.node.rt
        timeout, resubmit = self.cfg.write_timeout, self.cfg.resubmit
        seq = next(self.seqs)
        fut: asyncio.Future[tuple[bool, Any]] = asyncio.get_running_loop().create_future()
        self.pending[seq] = fut
        # every write of this server below the lowest still waiting is finished: replicas may forget it
        payload = ((self.host.node_id, self.incarnation, seq, min(self.pending)), op)
        self.payloads[seq] = payload
        deadline = time.monotonic() + timeout
        try:
            while not fut.done():
                if time.monotonic() > deadline:
                    raise ClientError(f"{op[0]}: {NOT_COMMITTED} {timeout:.0f} s (no leader?); it may still take effect")
                if rt.request("write", (payload,)) is None:  # no leader in broadcast right now
                    await asyncio.sleep(self.cfg.retry)
                    continue
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(fut), min(resubmit, max(0.01, deadline - time.monotonic())))
            ok, result = fut.result()
        finally:
            del self.pending[seq]
            self.payloads.pop(seq, None)
        if not ok:
            raise ClientError(str(result))
        return result

    async def op_create(self, path: Any, data: Any = b"", sequential: Any = False) -> Any:
        if not isinstance(sequential, bool):
            raise ClientError(f"sequential {sequential!r}: expected true or false")
        path = _path(path, sequential)
        if path == "/" and not sequential:
            raise ClientError("Node already exists: /")
        return await self._write(("create", path, _data(data), True) if sequential else ("create", path, _data(data)))

    async def op_set(self, path: Any, data: Any, version: Any = -1) -> Any:
        return await self._write(("set", _path(path), _data(data), _version(version)))

    async def op_delete(self, path: Any, version: Any = -1) -> Any:
        return await self._write(("delete", _path(path), _version(version)))

    async def op_sync(self, path: Any = "/") -> Any:
        return await self._write(("sync",))

    # ---- reads (local) ---------------------------------------------------------------------
    def _read(self, path: Any) -> Any:
        """The znode at `path` once this server serves reads; refused while it synchronizes."""
        if not self.serving:
            st = self.node.rt.state
            raise ClientError(f"{SYNCING} this server is {self._name(st, 'role').lower()} in phase "
                              f"{self._name(st, 'phase').lower()}, not yet synchronized with a leader; "
                              "retry, or ask another server")
        n = self.tree.nodes.get(_path(path))
        if n is None:
            raise ClientError(f"Node does not exist: {path}")
        return n

    async def op_get(self, path: Any) -> Any:
        n = self._read(path)
        return (n.data, n.version, n.czxid, n.mzxid)

    async def op_ls(self, path: Any, recursive: Any = False) -> Any:
        """The children's names; `recursive`: the path and every path below it, breadth first
        (ZooKeeper's `ls -R`), read at once from this server's tree."""
        if not isinstance(recursive, bool):
            raise ClientError(f"recursive {recursive!r}: expected true or false")
        names = tuple(sorted(self._read(path).children))
        if not recursive:
            return names
        out, k = [path], 0
        while k < len(out):
            here = out[k]
            out += [f"{here.rstrip('/')}/{c}" for c in sorted(self.tree.nodes[here].children)]
            k += 1
        return tuple(out)

    async def op_exists(self, path: Any) -> Any:
        try:
            self._read(path)
        except ClientError as exc:
            if str(exc).startswith("Node does not exist"):
                return False
            raise
        return True

    def followers(self) -> list[str]:
        """A leader's synchronized followers that are still connected to it (ZooKeeper's
        synced followers): the spec's `synced` set, less those whose connection broke."""
        st = self.node.rt.state
        if not self._established(st) or "synced" not in self.slot:
            return []
        connected = getattr(self.host.peers, "connected_peers", None)
        live = connected() if connected is not None else None
        return [f"n{f + 1}" for f in sorted(st[self.slot["synced"]]) if live is None or f in live]

    def info(self) -> dict[str, Any]:
        """What `pnyx cluster status` shows, as ZooKeeper's `srvr`: role, epoch, last zxid, and more."""
        st = self.node.rt.state
        history, commit, base = st[self.slot["history"]], st[self.slot["commit"]], self._base(st)
        out = {"role": self._name(st, "role"), "phase": self._name(st, "phase"), "leader": self._name(st, "leader"),
               "commit": commit, "applied": self.applied, "log": base + len(history), "snapshot": base,
               "znodes": len(self.tree.nodes),
               "last_zxid": self.last_zxid_of(st),
               "committed_zxid": tuple(history[commit - 1 - base][0]) if commit > base else self._base_zxid(st),
               "serving": self.serving, "followers": tuple(self.followers()), "tree_snapshot": self.snap_pos,
               "write_ids": len(self.replica.writes), "sessions": len(self.replica.writes.sessions)}
        for key, name in (("epoch", "currentEpoch"), ("accepted_epoch", "acceptedEpoch")):
            if name in self.slot:
                out[key] = int(st[self.slot[name]])
        out.update(self.election.info() if self.election is not None else {"election": "random"})
        if "rebuilt" in self.slot:  # started empty (`cluster restart --rebuild`), not settled by a leader since
            out["rebuilt"] = bool(st[self.slot["rebuilt"]])
        return out


class _SnapSender:
    """The node's transport, which sends a leader's replica ahead of each SNAP it sends."""

    def __init__(self, service: ZabService, peers: Any) -> None:
        self.service = service
        self.peers = peers

    def send(self, src: int, dst: int, msg: tuple) -> None:
        s = self.service
        if s.snap_msg is not None and msg[0] == s.snap_msg[0] and msg[s.snap_msg[1]] is True:
            for f in frames(s.applied, s.replica):
                self.peers.send(src, dst, f)
        self.peers.send(src, dst, msg)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.peers, name)  # disconnect, connected_peers: the transport's own


def _path(path: Any, sequential: bool = False) -> str:
    try:
        return check_path(path, sequential)
    except PathError as exc:
        raise ClientError(str(exc)) from None


def _version(version: Any) -> int:
    if not isinstance(version, int) or isinstance(version, bool):
        raise ClientError(f"version {version!r}: expected an integer (-1: any)")
    return version


def _data(data: Any) -> bytes:
    if isinstance(data, str):
        return data.encode()
    if not isinstance(data, bytes):
        raise ClientError(f"data must be bytes or a string, got {type(data).__name__}")
    return data
