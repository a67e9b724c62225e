"""`pnyx cluster`, `pnyx kv`, `pnyx gossip`, `pnyx replay`: running specs for real.

Exit status: 0 success; 1 the server refused the request or could not be reached, or a
replay diverged from its trace; 2 bad arguments or input files.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from typing import Any

from pnyx.model.errors import PnyxError

MAX_NODES = 100  # each node is an OS process with its own interpreter


def _version(text: str) -> int:
    """A znode version to match: 0, 1, 2... or -1 for any."""
    from pnyx.cli import _bounded_int

    return _bounded_int(text, -1, None, "a version (an integer; -1: any)")


def _nodes(text: str) -> int:
    from pnyx.cli import _bounded_int

    return _bounded_int(text, 1, MAX_NODES, "a number of nodes")


def register(sub: Any) -> None:
    from pnyx.cli import _positive, _seconds

    c = sub.add_parser("cluster", help="start and stop node processes running a spec on loopback")
    csub = c.add_subparsers(dest="cluster_command", metavar="ACTION")
    csub.required = True
    s = csub.add_parser("start", help="start N nodes; prints their client addresses")
    s.add_argument("spec", metavar="SPEC", help="a .pnyx spec")
    s.add_argument("--service", metavar="NAME",
                   help="what the nodes offer clients: zab (pnyx kv), gossip (pnyx gossip) or raw (the spec's requests); "
                        "default: `service` in --config, else the one the spec is named after, else raw")
    s.add_argument("--nodes", type=_nodes, metavar="N", help=f"number of nodes, at most {MAX_NODES} (default: the spec's)")
    s.add_argument("--dir", required=True, metavar="DIR", help="a new directory for the cluster's data, logs and pids")
    s.add_argument("-D", dest="defines", action="append", metavar="NAME=VALUE", help="override a constant (repeatable)")
    s.add_argument("--config", metavar="FILE", help="TOML configuration (timer periods, fsync, service settings)")
    s.add_argument("--detach", action="store_true", help="return once the nodes are up (stop them with `cluster stop`)")
    s.set_defaults(handler=cmd_cluster_start)
    t = csub.add_parser("stop", help="stop every node of a cluster")
    t.add_argument("dir", metavar="DIR")
    t.set_defaults(handler=cmd_cluster_stop)
    t = csub.add_parser("status", help="each node's address and pid, and what it says of itself: "
                                         "ZAB role, epoch, last zxid, a leader's followers, "
                                         "whether it serves reads; gossip keys")
    t.add_argument("dir", metavar="DIR")
    t.add_argument("--json", action="store_true", help="print the status as JSON")
    t.add_argument("--timeout", type=_seconds, default=2.0, metavar="S",
                   help="seconds to wait for each node's answer (default 2)")
    t.set_defaults(handler=cmd_cluster_status)
    t = csub.add_parser("kill", help="kill one node at once (SIGKILL), as a crash")
    t.add_argument("dir", metavar="DIR")
    t.add_argument("node", type=_positive, metavar="K", help="node number, 1..N")
    t.set_defaults(handler=cmd_cluster_kill)
    t = csub.add_parser("restart", help="start one stopped or crashed node again (it recovers from its data)")
    t.add_argument("dir", metavar="DIR")
    t.add_argument("node", type=_positive, metavar="K", help="node number, 1..N")
    t.add_argument("--rebuild", action="store_true",
                   help="start it with empty files (its old ones moved to nK/damaged-TIME/) so that it "
                        "resynchronizes from the others; refused unless a quorum of the other nodes serve")
    t.set_defaults(handler=cmd_cluster_restart)

    k = sub.add_parser("kv", help="a client of the ZAB key-value service (ZooKeeper's CLI without stat and watch)")
    k.add_argument("--server", required=True, metavar="HOST:PORT", help="any server of the cluster")
    k.add_argument("--timeout", type=_seconds, default=10.0, metavar="S", help="seconds to wait for an answer (default 10)")
    k.add_argument("--json", action="store_true", help="print the answer (or the error) as JSON")
    ksub = k.add_subparsers(dest="kv_command", metavar="OP")
    ksub.required = True
    p = ksub.add_parser("create", help="create a node with data (-s: sequential, named PATH0000000007)")
    p.add_argument("-s", "--sequential", action="store_true",
                   help="append the parent's next 10-digit sequence number to the name, as ZooKeeper does")
    p.add_argument("path", metavar="PATH")
    p.add_argument("data", metavar="DATA", nargs="?", default="", help="the node's data (default: empty)")
    p = ksub.add_parser("set", help="replace a node's data")
    p.add_argument("path", metavar="PATH")
    p.add_argument("data", metavar="DATA")
    p.add_argument("-v", "--version", type=_version, default=-1, metavar="V",
                   help="only if the node's version is V (default -1: any version)")
    p = ksub.add_parser("delete", help="delete a node (it must have no children)")
    p.add_argument("path", metavar="PATH")
    p.add_argument("-v", "--version", type=_version, default=-1, metavar="V",
                   help="only if the node's version is V (default -1: any version)")
    for name, helptext in (("get", "a node's data and version (read locally)"), ("ls", "a node's children"),
                           ("exists", "whether a node exists (exit 1 if not)"),
                           ("sync", "catch this server up with the leader")):
        p = ksub.add_parser(name, help=helptext)
        p.add_argument("path", metavar="PATH", nargs="?" if name == "sync" else None, default="/")
        if name == "ls":
            p.add_argument("-R", "--recursive", action="store_true",
                           help="the path and every path below it, breadth first, as ZooKeeper's ls -R")
    k.set_defaults(handler=cmd_kv)

    g = sub.add_parser("gossip", help="a client of the gossip key-value service")
    g.add_argument("--server", required=True, metavar="HOST:PORT", help="any node of the cluster")
    g.add_argument("--timeout", type=_seconds, default=10.0, metavar="S", help="seconds to wait for an answer (default 10)")
    gsub = g.add_subparsers(dest="gossip_command", metavar="OP")
    gsub.required = True
    p = gsub.add_parser("put", help="write a key at this node")
    p.add_argument("key", metavar="KEY")
    p.add_argument("value", metavar="VALUE")
    p = gsub.add_parser("get", help="read a key at this node")
    p.add_argument("key", metavar="KEY")
    gsub.add_parser("keys", help="the keys this node holds")
    g.set_defaults(handler=cmd_gossip)

    r = sub.add_parser("replay", help="drive the simulation through a counterexample from `pnyx check --json`")
    r.add_argument("trace", metavar="TRACE.json")
    r.add_argument("--spec", metavar="FILE", help="the spec (default: the one the trace names)")
    r.add_argument("-D", dest="defines", action="append", metavar="NAME=VALUE", help="override a constant (repeatable)")
    r.set_defaults(handler=cmd_replay)


# ---- cluster ---------------------------------------------------------------------
def cmd_cluster_start(args: argparse.Namespace) -> int:
    from pnyx.cli import parse_defines
    from pnyx.impl.cluster import start_cluster, stop_cluster

    meta = start_cluster(args.spec, args.nodes, args.dir, parse_defines(args.defines), args.config, service=args.service)
    try:
        print(f"{meta.nodes} nodes of {args.spec} ({meta.service} service), data in {args.dir}")
        for i, (h, p) in enumerate(meta.clients):
            print(f"n{i + 1} {h}:{p}")
        sys.stdout.flush()
        if args.detach:
            return 0
        stop = False

        def _stop(*_: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, _stop)
        try:
            while not stop:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
    finally:
        if not args.detach:  # in the foreground the nodes live only as long as this command, however it ends
            stop_cluster(args.dir)
    print("stopped")
    return 0


def cmd_cluster_stop(args: argparse.Namespace) -> int:
    from pnyx.impl.cluster import stop_cluster

    stopped = stop_cluster(args.dir)
    print(f"stopped {len(stopped)} node(s)" + (": " + ", ".join(f"n{i + 1}" for i in stopped) if stopped else ""))
    return 0


def cmd_cluster_status(args: argparse.Namespace) -> int:
    """Which node leads, at which epoch and zxid: each running node is asked over its client port."""
    import json

    from pnyx.impl.cluster import node_status
    from pnyx.impl.meta import ClusterMeta
    from pnyx.impl.raw_service import RawService
    from pnyx.impl.services import SERVICES

    meta = ClusterMeta.read(args.dir)
    nodes = node_status(args.dir, timeout=args.timeout)
    if args.json:
        out = {"dir": str(args.dir), "spec": meta.spec, "service": meta.service, "nodes": nodes}
        json.dump(out, sys.stdout, indent=2, default=list)
        sys.stdout.write("\n")
        return 0
    cols = SERVICES.get(meta.service, RawService).status_columns
    rows = [["node", "address", "state", "pid", *(name for name, _ in cols)]]
    notes = []
    for n in nodes:
        state = "down" if n["pid"] is None else "running" if n["info"] is not None else "no answer"
        cells = [n["node"], n["address"], state, str(n["pid"] or "-")]
        cells += [cell(n["info"]) if n["info"] is not None else "-" for _, cell in cols]
        rows.append(cells)
        if n["error"]:
            notes.append(f"{n['node']}: {n['error']}")
        for repaired in (n["info"] or {}).get("repaired", ()):
            notes.append(f"{n['node']}: repaired at start-up: {repaired}")
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    for line in notes:
        print(line)
    return 0


def _node_index(args: argparse.Namespace) -> int:
    from pnyx.impl.meta import ClusterMeta

    meta = ClusterMeta.read(args.dir)
    if args.node > meta.nodes:
        raise PnyxError(f"node {args.node} does not exist: the cluster has nodes 1..{meta.nodes}")
    return int(args.node) - 1


def cmd_cluster_kill(args: argparse.Namespace) -> int:
    from pnyx.impl.cluster import kill_node

    i = _node_index(args)
    if not kill_node(args.dir, i):
        print(f"n{i + 1} is not running")
        return 1
    print(f"killed n{i + 1}")
    return 0


def cmd_cluster_restart(args: argparse.Namespace) -> int:
    from pnyx.impl.cluster import node_pid, rebuild_node, start_node, wait_ready

    i = _node_index(args)
    if args.rebuild:
        aside = rebuild_node(args.dir, i)
        print(f"n{i + 1} rebuilt: started empty, resynchronizing from its peers (its old files are in {aside})")
        return 0
    if node_pid(args.dir, i) is not None:
        raise PnyxError(f"n{i + 1} is already running")
    p = start_node(args.dir, i)
    wait_ready(args.dir, [i], {i: p})
    print(f"n{i + 1} restarted")
    return 0


# ---- clients ---------------------------------------------------------------------
def _call(args: argparse.Namespace, op: str, *xs: Any) -> tuple[int, Any]:
    """(0, result), or (1, None) after saying why on stderr (as JSON on stdout with --json)."""
    from pnyx.impl.client import ClientError, Unavailable, call, parse_addr

    addr = parse_addr(args.server)
    try:
        return 0, call(addr, op, *xs, timeout=args.timeout)
    except (Unavailable, ClientError) as exc:
        message = f"server unavailable: {exc}" if isinstance(exc, Unavailable) else str(exc)
        if getattr(args, "json", False):
            _print_json({"error": message})
        else:
            sys.stderr.write(f"error: {message}\n")
        return 1, None


def _print_json(data: dict[str, Any]) -> None:
    import json

    json.dump(data, sys.stdout, default=list)
    sys.stdout.write("\n")


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode(errors="replace")
    return str(v)


def _zxid(z: Any) -> str:
    return f"({z[0]}, {z[1]})"


def cmd_kv(args: argparse.Namespace) -> int:
    """One ZooKeeper-style operation; the answer as zkCli prints it, or as JSON."""
    op = args.kv_command
    if op != "sync" and not args.path.startswith("/"):
        raise PnyxError(f"path {args.path!r}: a path starts with '/', for example /app/config")
    if op == "create":
        rc, r = _call(args, "create", args.path, args.data.encode(), args.sequential)
        out, text = (({"path": r[0], "zxid": r[1]}, [f"Created {r[0]}"]) if rc == 0 else (None, []))
    elif op == "set":
        rc, r = _call(args, "set", args.path, args.data.encode(), args.version)
        out, text = (({"path": args.path, "version": r[0], "zxid": r[1]},
                      [f"set {args.path} version {r[0]} (zxid {_zxid(r[1])})"]) if rc == 0 else (None, []))
    elif op == "delete":
        rc, r = _call(args, "delete", args.path, args.version)
        out, text = (({"path": args.path, "zxid": r[1]}, [f"deleted {args.path} (zxid {_zxid(r[1])})"])
                     if rc == 0 else (None, []))
    elif op == "get":
        rc, r = _call(args, "get", args.path)
        out, text = (({"path": args.path, "data": _text(r[0]), "version": r[1], "czxid": r[2], "mzxid": r[3]},
                      [_text(r[0]), f"version {r[1]}"]) if rc == 0 else (None, []))
    elif op == "ls":
        rc, r = _call(args, "ls", args.path, args.recursive) if args.recursive else _call(args, "ls", args.path)
        key = "paths" if args.recursive else "children"
        out, text = ({"path": args.path, key: list(r)}, list(r)) if rc == 0 else (None, [])
    elif op == "exists":
        rc, r = _call(args, "exists", args.path)
        if rc == 0:
            out, text = {"path": args.path, "exists": bool(r)}, ["yes" if r else "no"]
            rc = 0 if r else 1
        else:
            out, text = None, []
    else:  # sync
        rc, r = _call(args, "sync")
        out, text = ({"zxid": r}, [f"synced to zxid {_zxid(r)}"]) if rc == 0 else (None, [])
    if out is not None:
        if args.json:
            _print_json(out)
        else:
            for line in text:
                print(line)
    return rc


def cmd_gossip(args: argparse.Namespace) -> int:
    op = args.gossip_command
    if op == "put":
        rc, r = _call(args, "put", args.key, args.value)
        if rc == 0:
            print(f"put {args.key} version {r[0]}.{r[1]}")
    elif op == "get":
        rc, r = _call(args, "get", args.key)
        if rc == 0:
            if r is None:
                sys.stderr.write(f"error: {args.key!r} not found at this node\n")
                return 1
            print(f"{_text(r[0])}\nversion {r[1][0]}.{r[1][1]}")
    else:
        rc, r = _call(args, "keys")
        if rc == 0:
            for k in r:
                print(k)
    return rc


# ---- replay -----------------------------------------------------------------------
def cmd_replay(args: argparse.Namespace) -> int:
    from pnyx.cli import parse_defines
    from pnyx.impl.replay import replay_file

    res = replay_file(args.trace, args.spec, parse_defines(args.defines))
    for s in res.steps:
        mark = "same state" if not s.mismatches else "DIFFERENT"
        print(f"step {s.index}: {s.action}  [{mark}]")
        for m in s.mismatches:
            print(f"    {m}")
    if res.violated:
        print("violated in the simulation's final state: " + ", ".join(res.violated))
    else:
        print("every invariant holds in the simulation's final state")
    if res.ok:
        print(f"replayed {len(res.steps) - 1} steps: the simulation reached the same states as the trace"
              + (f" and violates {res.expected}" if res.expected else ""))
        return 0
    first = next((s.index for s in res.steps if s.mismatches), None)
    if first is None:
        print(f"the simulation reached the same states, but {res.expected} holds in its final state")
    else:
        print(f"the simulation diverged from the trace at step {first}")
    return 1
