"""The ZAB service's replicated state machine: the znode tree and the table of applied writes.

Every server applies the committed history, in order, through `Replica.apply`; nothing here
reads a clock, a random generator or the server it runs on, so every replica computes the
same tree, the same answers and the same table from the same history (impl/zab_service.py
feeds it). Errors are worded as ZooKeeper's command line words them (`Node does not exist:
/a`), for the same cases (KeeperException's NoNode, NodeExists, BadVersion, NotEmpty).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Outcome = tuple[bool, Any]  # (applied, result) or (refused, error message)

SEQUENCE_DIGITS = 10  # a sequential node's suffix, zero-padded as ZooKeeper's %010d


class PathError(ValueError):
    """A path that is not a ZooKeeper-style absolute path."""


def check_path(path: Any, sequential: bool = False) -> str:
    """A ZooKeeper-style absolute path: '/', or '/a/b' without empty or dot components. A
    sequential create's path is checked with its suffix to come (so '/app/' is one: it
    creates /app/0000000000)."""
    if not isinstance(path, str) or not path.startswith("/"):
        raise PathError(f"path {path!r}: a path starts with '/', for example /app/config")
    full = path + "0" * SEQUENCE_DIGITS if sequential else path
    if full != "/" and (full.endswith("/") or any(p in ("", ".", "..") for p in full[1:].split("/"))):
        raise PathError(f"path {path!r}: no empty, '.' or '..' components and no trailing '/'")
    if len(full) > 1024:
        raise PathError(f"path of {len(full)} characters: at most 1024")
    return path


def parent_of(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


@dataclass
class Znode:
    data: bytes
    version: int = 0
    czxid: tuple = (0, 0)
    mzxid: tuple = (0, 0)
    children: set[str] = field(default_factory=set)
    cversion: int = 0  # creates and deletes of children so far: the next sequential suffix, as ZooKeeper's

    def record(self, path: str) -> Record:
        """What a snapshot keeps of it (children follow from the paths)."""
        return (path, self.data, self.version, self.czxid, self.mzxid, self.cversion)


Record = tuple[str, bytes, int, tuple, tuple, int]  # (path, data, version, czxid, mzxid, cversion)


class Frozen:
    """The tree as it was when `Tree.freeze` was called, read in chunks while the tree changes.

    The tree keeps, for each open Frozen, the record of every znode it changes (or None for
    one it creates) before the first change: reading a path gives that saved record, else the
    znode as it is now, unchanged since the freeze. Cost: a list of the paths at the freeze,
    then O(1) per change while it is open."""

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.paths = list(tree.nodes)
        self.saved: dict[str, Record | None] = {}

    def records(self, start: int, stop: int) -> list[Record]:
        out = []
        nodes, saved = self.tree.nodes, self.saved
        for path in self.paths[start:stop]:
            r = saved[path] if path in saved else nodes[path].record(path)
            if r is not None:
                out.append(r)
        return out

    def close(self) -> None:
        if self in self.tree.frozen:
            self.tree.frozen.remove(self)


class Tree:
    """The znodes, changed by operations applied in commit order."""

    def __init__(self) -> None:
        self.nodes: dict[str, Znode] = {"/": Znode(b"")}
        self.frozen: list[Frozen] = []  # open snapshots: they keep what a change overwrites

    def freeze(self) -> Frozen:
        """A view of the tree as it is now, unaffected by later changes, until its `close`."""
        f = Frozen(self)
        self.frozen.append(f)
        return f

    def _before_change(self, *paths: str) -> None:
        for f in self.frozen:
            for path in paths:
                if path not in f.saved:
                    n = self.nodes.get(path)
                    f.saved[path] = None if n is None else n.record(path)

    def records(self) -> list[Record]:
        """Every znode, at once."""
        return [n.record(path) for path, n in self.nodes.items()]

    @classmethod
    def from_records(cls, records: Any) -> Tree:
        """The tree a snapshot's records describe (children rebuilt from the paths)."""
        t = cls()
        for path, data, version, czxid, mzxid, cversion in records:
            t.nodes[path] = Znode(data, version, tuple(czxid), tuple(mzxid), set(), cversion)
        for path in t.nodes:
            if path != "/":
                t.nodes[parent_of(path)].children.add(path.rsplit("/", 1)[1])
        return t

    def apply(self, op: Any, zxid: tuple) -> Outcome:
        """(True, result) or (False, error message); deterministic, so every replica agrees."""
        if not isinstance(op, tuple) or not op:
            return False, "malformed operation"
        kind = op[0]
        if kind == "sync":
            return True, zxid
        if kind == "create" and len(op) in (3, 4):
            return self._create(op[1], op[2], len(op) == 4 and op[3] is True, zxid)
        if kind == "set" and len(op) == 4:
            _, path, data, version = op
            n = self.nodes.get(path)
            if n is None:
                return False, f"Node does not exist: {path}"
            if version != -1 and version != n.version:
                return False, _bad_version(path, version, n.version)
            self._before_change(path)
            n.data, n.version, n.mzxid = data, n.version + 1, zxid
            return True, (n.version, zxid)
        if kind == "delete" and len(op) == 3:
            _, path, version = op
            n = self.nodes.get(path)
            if n is None:
                return False, f"Node does not exist: {path}"
            if path == "/":
                return False, "Arguments are not valid: / (the root cannot be deleted)"
            if version != -1 and version != n.version:
                return False, _bad_version(path, version, n.version)
            if n.children:
                k = len(n.children)
                return False, f"Node not empty: {path} (it has {k} {'child' if k == 1 else 'children'}; delete them first)"
            self._before_change(path, parent_of(path))
            del self.nodes[path]
            parent = self.nodes[parent_of(path)]
            parent.children.discard(path.rsplit("/", 1)[1])
            parent.cversion += 1
            return True, (path, zxid)
        return False, f"unknown operation {kind!r}"

    def _create(self, path: str, data: bytes, sequential: bool, zxid: tuple) -> Outcome:
        """A node under an existing parent; a sequential one is named after the parent's child
        counter, which this very application decides (so every replica picks the same name)."""
        parent = self.nodes.get(parent_of(path))
        if parent is None:
            return False, f"Node does not exist: {path} (no parent {parent_of(path)})"
        if sequential:
            path = f"{path}{parent.cversion:0{SEQUENCE_DIGITS}d}"
        if path in self.nodes:
            return False, f"Node already exists: {path}"
        self._before_change(path, parent_of(path))
        self.nodes[path] = Znode(data, 0, zxid, zxid)
        parent.children.add(path.rsplit("/", 1)[1])
        parent.cversion += 1
        return True, (path, zxid)


def _bad_version(path: str, expected: Any, actual: int) -> str:
    return f"Bad version: {path} is at version {actual}, not {expected}"


# ---- exactly once -------------------------------------------------------------------
WriteId = tuple[int, int, int, int]  # (server, incarnation, seq, low)


def write_id(v: Any) -> WriteId | None:
    """The id of a service payload `((server, incarnation, seq, low), operation)`, None for any
    other value (one a checker trace replayed)."""
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], tuple) and len(v[0]) == 4 \
            and all(isinstance(x, int) and not isinstance(x, bool) for x in v[0]):
        return v[0]
    return None


def fresh_incarnation(server: int, now_ms: int, logged: Any) -> int:
    """A starting server's incarnation: its clock in milliseconds, kept above every incarnation
    of its own among the `logged` values (should the clock have gone back since its last run,
    replicas would otherwise take the new run for an older one and refuse its writes)."""
    mine = [w[1] for w in map(write_id, logged) if w is not None and w[0] == server]
    return max([now_ms, *(inc + 1 for inc in mine)])


@dataclass
class Session:
    """What replicas remember of one submitter (a server process): the outcome of each of its
    writes that may still be in flight."""

    incarnation: int
    low: int = 0  # every write below it is finished at its submitter: a later copy is refused
    outcomes: dict[int, Outcome] = field(default_factory=dict)


class AppliedWrites:
    """Each client write applied at most once, in a table that stays bounded.

    A server submits a write again when its leader may have died, so one write can appear
    several times in the history. Its id is (server, incarnation, seq, low): the server's
    number, its process's start time (a restart is a new session), a sequence number, and the
    lowest sequence number among that server's writes still waiting when it was submitted. As
    in Raft's client sessions (Ongaro's thesis, 6.3), `low` lets every replica forget the
    outcomes below it: the submitter will never wait on them again, so a late copy of one is
    refused rather than applied a second time. A newer incarnation of a server retires the
    older one the same way. The table holds, per server, only the writes still outstanding
    at it, whatever the length of the history."""

    def __init__(self) -> None:
        self.sessions: dict[int, Session] = {}

    def __len__(self) -> int:
        return sum(len(s.outcomes) for s in self.sessions.values())

    def dump(self) -> tuple:
        """The table as a value (a copy: later writes do not change it)."""
        return tuple((server, s.incarnation, s.low, tuple(sorted(s.outcomes.items())))
                     for server, s in sorted(self.sessions.items()))

    @classmethod
    def load(cls, value: Any) -> AppliedWrites:
        w = cls()
        for server, incarnation, low, outcomes in value:
            w.sessions[server] = Session(incarnation, low, {seq: tuple(o) for seq, o in outcomes})
        return w

    def apply(self, wid: WriteId, run: Any) -> Outcome:
        """The write's outcome: `run()` the first time it is applied, the same answer for a copy,
        a refusal for a copy that arrives after its submitter let it go."""
        server, incarnation, seq, low = wid
        s = self.sessions.get(server)
        if s is None or incarnation > s.incarnation:
            s = self.sessions[server] = Session(incarnation)
        elif incarnation < s.incarnation:
            return False, f"expired: write {seq} of an earlier run of server n{server + 1} arrived after its restart"
        if seq in s.outcomes:
            out = s.outcomes[seq]
        elif seq < s.low:
            out = (False, f"expired: write {seq} of server n{server + 1} arrived after its server stopped waiting for it")
        else:
            out = s.outcomes[seq] = run()
        if low > s.low:
            s.low = low
            s.outcomes = {k: o for k, o in s.outcomes.items() if k >= low}
        return out


class Replica:
    """The tree and the applied-writes table, fed the committed history in order."""

    def __init__(self, tree: Tree | None = None, writes: AppliedWrites | None = None) -> None:
        self.tree = tree or Tree()
        self.writes = writes or AppliedWrites()

    def apply(self, value: Any, zxid: tuple) -> tuple[WriteId | None, Outcome]:
        """Apply one committed transaction's value: (its write id, its outcome)."""
        wid = write_id(value)
        if wid is None:
            return None, (False, "no operation")
        return wid, self.writes.apply(wid, lambda: self.tree.apply(value[1], zxid))
