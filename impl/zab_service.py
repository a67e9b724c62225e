"""The ZAB key-value service: a hierarchical store in the manner of ZooKeeper.

The protocol is spec/zab.pnyx, run by `NodeRuntime`: election, discovery, synchronization
and broadcast are its compiled handlers. The service is glue around them:
- A write (create, set, delete, sync) becomes the spec's `write(v)` request, where `v` is the
  payload `(write id, operation)`: the spec's Value is opaque (docs/language.md), so its
  handlers store, send and compare it without looking inside. At a follower the spec forwards it to the leader
  (message Write); the leader proposes it. When the spec is in no state to take writes
  (an election is going on) the service retries until the client's deadline.
- The client is answered only once the transaction is committed *at the server it asked*:
  after every step the service applies `history[applied:commit]` to its tree, in order,
  and resolves the waiting request. Each operation's checks (does the parent exist, does the
  expected version match) are made when it is applied, identically on every server, so all
  replicas compute the same tree and the same answers.
- Reads (get, ls, exists) are served from the local tree; `sync` is an empty write whose
  commit at this server guarantees every earlier write is visible here.
The committed prefix of the history never changes (the spec's CommittedPrefixesAgree and
NoCommittedTxnLost), so `applied` only grows; a restarted server re-applies from its log as
its leader tells it what is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pnyx.model.types import OpaqueType, RecordType, SeqType, TupleType, Type, show

from .client import NOT_COMMITTED, ClientError
from .node import Step
from .service import ANY, INT, Kind, NodeHost, Requirements, Service, SpecNode, info_cell

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


def _write_of(v: Any) -> tuple[Any, Any]:
    """A history value as (write id, operation): the service's own payloads are such pairs; any
    other value (one a checker trace replayed) is its own id with no operation."""
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], int) and not isinstance(v[0], bool):
        return v[0], v[1]
    return v, None


def _zxid(z: Any) -> str:
    return f"({z[0]}, {z[1]})" if isinstance(z, (tuple, list)) and len(z) == 2 else "?"


def _leader(text: Any) -> str:
    """`some(n2)` as n2, `none` as -."""
    t = str(text)
    return t[5:-1] if t.startswith("some(") and t.endswith(")") else "-" if t == "none" else t


@dataclass
class Znode:
    data: bytes
    version: int = 0
    czxid: tuple = (0, 0)
    mzxid: tuple = (0, 0)
    children: set[str] = field(default_factory=set)


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def check_path(path: Any) -> str:
    """A ZooKeeper-style absolute path: '/', or '/a/b' without empty or dot components."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise ClientError(f"path {path!r}: a path starts with '/', for example /app/config")
    if path != "/" and (path.endswith("/") or any(p in ("", ".", "..") for p in path[1:].split("/"))):
        raise ClientError(f"path {path!r}: no empty, '.' or '..' components and no trailing '/'")
    if len(path) > 1024:
        raise ClientError(f"path of {len(path)} characters: at most 1024")
    return path


class Tree:
    """The replicated state machine: operations applied in commit order."""

    def __init__(self) -> None:
        self.nodes: dict[str, Znode] = {"/": Znode(b"")}

    def apply(self, op: Any, zxid: tuple) -> tuple[bool, Any]:
        """(ok, result or error message); deterministic, so every replica agrees."""
        if not isinstance(op, tuple) or not op:
            return False, "malformed operation"
        kind = op[0]
        if kind == "sync":
            return True, zxid
        if kind == "create" and len(op) == 3:
            _, path, data = op
            if path in self.nodes:
                return False, f"{path} already exists"
            parent = self.nodes.get(_parent(path))
            if parent is None:
                return False, f"parent {_parent(path)} does not exist"
            self.nodes[path] = Znode(data, 0, zxid, zxid)
            parent.children.add(path.rsplit("/", 1)[1])
            return True, (path, zxid)
        if kind == "set" and len(op) == 4:
            _, path, data, version = op
            n = self.nodes.get(path)
            if n is None:
                return False, f"{path} does not exist"
            if version != -1 and version != n.version:
                return False, f"version mismatch on {path}: expected {version}, it is {n.version}"
            n.data, n.version, n.mzxid = data, n.version + 1, zxid
            return True, (n.version, zxid)
        if kind == "delete" and len(op) == 3:
            _, path, version = op
            n = self.nodes.get(path)
            if n is None or path == "/":
                return False, f"{path} does not exist" if n is None else "the root cannot be deleted"
            if version != -1 and version != n.version:
                return False, f"version mismatch on {path}: expected {version}, it is {n.version}"
            if n.children:
                return False, f"{path} has children"
            del self.nodes[path]
            self.nodes[_parent(path)].children.discard(path.rsplit("/", 1)[1])
            return True, (path, zxid)
        return False, f"unknown operation {kind!r}"


class ZabService(Service):
    """create/set/delete/sync through the spec's `write`, reads from the tree its commits built."""

    name = "zab"
    # history: (zxid, value) pairs; commit: how many of them are committed; role, phase,
    # leader: for `info`. currentEpoch and acceptedEpoch are shown when the spec has them.
    needs = Requirements(variables=(("history", HISTORY), ("commit", INT), ("role", ANY), ("phase", ANY), ("leader", ANY)),
                         requests=(("write", (OPAQUE,)),))
    # As ZooKeeper's `srvr`: who leads, at which epoch and zxid.
    status_columns = (("role", lambda x: str(x.get("role", "?")).lower()), ("epoch", info_cell("epoch")),
                      ("last zxid", lambda x: _zxid(x.get("last_zxid"))),
                      ("committed", lambda x: _zxid(x.get("committed_zxid"))),
                      ("phase", lambda x: str(x.get("phase", "?")).lower()),
                      ("leader", lambda x: _leader(x.get("leader", "?"))), ("znodes", info_cell("znodes")))

    def __init__(self, host: NodeHost) -> None:
        super().__init__(host)
        cs = self.cs
        self.cfg = host.cfg.zab
        self.node = SpecNode(host, host.peers, on_step=self._on_step)
        self.slot = {v.name: v.slot for v in cs.vars}
        self.tree = Tree()
        self.applied = 0
        self.seen: dict[Any, tuple[bool, Any]] = {}  # write id -> outcome, for idempotent re-submission
        self.last_zxid: tuple = (0, 0)
        self.pending: dict[int, asyncio.Future[tuple[bool, Any]]] = {}
        self.payloads: dict[int, tuple] = {}  # write id -> operation, of the writes waiting in `pending`
        self.view: tuple = ()  # (role, phase, leader) after the last step
        # ids unique across servers and restarts: time-seeded counter, node id in the low digits
        self.ids = itertools.count(int(time.time() * 1000) * 1000)
        self.ops = {"create": self.op_create, "set": self.op_set, "delete": self.op_delete, "get": self.op_get,
                    "ls": self.op_ls, "exists": self.op_exists, "sync": self.op_sync}

    async def start(self) -> None:
        self.node.start()
        self._catch_up(self.node.rt.state)

    def on_peer(self, src: int, payload: Any) -> None:
        self.node.deliver(src, payload)

    # ---- applying committed transactions -------------------------------------------
    def _on_step(self, step: Step) -> None:
        self._catch_up(step.after)
        st, slot = step.after, self.slot
        view = (st[slot["role"]], st[slot["phase"]], st[slot["leader"]])
        if view != self.view:
            self.view = view
            if self.payloads:
                asyncio.get_running_loop().call_soon(self._resubmit)

    def _resubmit(self) -> None:
        """This server's leader changed: submit every uncommitted write again at once rather than
        after `resubmit` seconds (one forwarded to a dead leader died with it). Idempotent by id."""
        for wid, op in list(self.payloads.items()):
            if self.node.rt.request("write", ((wid, op),)) is None:
                return  # not in broadcast yet: the writers retry every `retry` seconds meanwhile

    def _catch_up(self, st: tuple) -> None:
        history, commit = st[self.slot["history"]], st[self.slot["commit"]]
        if self.applied and commit >= self.applied and history[self.applied - 1][0] != self.last_zxid:
            log.error("committed history changed under the service at %d: %r", self.applied, history[self.applied - 1])
        while self.applied < commit:
            zxid, v = history[self.applied]
            wid, op = _write_of(v)
            if wid in self.seen:
                ok, result = self.seen[wid]  # a re-submitted write: applied once already
            else:
                ok, result = self.tree.apply(op, zxid) if op is not None else (False, "no operation")
                self.seen[wid] = (ok, result)
            self.applied += 1
            self.last_zxid = zxid
            fut = self.pending.pop(wid, None)
            if fut is not None and not fut.done():
                fut.set_result((ok, result))

    # ---- writes ------------------------------------------------------------------------
    async def _write(self, op: tuple) -> Any:
        """Submit `op` through the spec and wait until this server has applied it.

        A forwarded write dies with the leader it was sent to, so an uncommitted write is
        submitted again every `resubmit` seconds; the transaction id makes re-submissions
        idempotent (a replica applies each id once)."""
        rt = self.node.rt
        timeout, resubmit = self.cfg.write_timeout, self.cfg.resubmit
        wid = next(self.ids) * self.cs.n_nodes + self.host.node_id + 1
        fut: asyncio.Future[tuple[bool, Any]] = asyncio.get_running_loop().create_future()
        self.pending[wid] = fut
        self.payloads[wid] = op
        deadline = time.monotonic() + timeout
        try:
            while not fut.done():
                if time.monotonic() > deadline:
                    raise ClientError(f"{op[0]}: {NOT_COMMITTED} {timeout:.0f} s (no leader?); it may still take effect")
                if rt.request("write", ((wid, op),)) is None:  # no leader in broadcast right now
                    await asyncio.sleep(self.cfg.retry)
                    continue
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(fut), min(resubmit, max(0.01, deadline - time.monotonic())))
            ok, result = fut.result()
        finally:
            self.pending.pop(wid, None)
            self.payloads.pop(wid, None)
        if not ok:
            raise ClientError(str(result))
        return result

    async def op_create(self, path: Any, data: Any = b"") -> Any:
        path = check_path(path)
        if path == "/":
            raise ClientError("/ already exists")
        return await self._write(("create", path, _data(data)))

    async def op_set(self, path: Any, data: Any, version: Any = -1) -> Any:
        if not isinstance(version, int) or isinstance(version, bool):
            raise ClientError(f"version {version!r}: expected an integer (-1: any)")
        return await self._write(("set", check_path(path), _data(data), version))

    async def op_delete(self, path: Any, version: Any = -1) -> Any:
        if not isinstance(version, int) or isinstance(version, bool):
            raise ClientError(f"version {version!r}: expected an integer (-1: any)")
        return await self._write(("delete", check_path(path), version))

    async def op_sync(self, path: Any = "/") -> Any:
        return await self._write(("sync",))

    # ---- reads (local) ---------------------------------------------------------------------
    async def op_get(self, path: Any) -> Any:
        n = self.tree.nodes.get(check_path(path))
        if n is None:
            raise ClientError(f"{path} does not exist")
        return (n.data, n.version, n.czxid, n.mzxid)

    async def op_ls(self, path: Any) -> Any:
        n = self.tree.nodes.get(check_path(path))
        if n is None:
            raise ClientError(f"{path} does not exist")
        return tuple(sorted(n.children))

    async def op_exists(self, path: Any) -> Any:
        return check_path(path) in self.tree.nodes

    def info(self) -> dict[str, Any]:
        """What `pnyx cluster status` shows, as ZooKeeper's `srvr`: role, epoch, last zxid, and more."""
        st = self.node.rt.state
        var = {v.name: v for v in self.cs.vars}
        history, commit = st[self.slot["history"]], st[self.slot["commit"]]
        out = {"role": show(st[self.slot["role"]], var["role"].type), "phase": show(st[self.slot["phase"]], var["phase"].type),
               "leader": show(st[self.slot["leader"]], var["leader"].type), "commit": commit,
               "applied": self.applied, "log": len(history), "znodes": len(self.tree.nodes),
               "last_zxid": tuple(history[-1][0]) if history else (0, 0),
               "committed_zxid": tuple(history[commit - 1][0]) if commit else (0, 0)}
        for key, name in (("epoch", "currentEpoch"), ("accepted_epoch", "acceptedEpoch")):
            if name in self.slot:
                out[key] = int(st[self.slot[name]])
        return out


def _data(data: Any) -> bytes:
    if isinstance(data, str):
        return data.encode()
    if not isinstance(data, bytes):
        raise ClientError(f"data must be bytes or a string, got {type(data).__name__}")
    return data
