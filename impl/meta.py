"""cluster.json: what every node of a cluster agrees on (spec, constants, service, addresses).

A module of its own so that the cluster manager, the CLI and the node host read it without
importing one another.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pnyx.model.errors import PnyxError

STATE_MARKER = "has-state"  # in a node's directory, beside data/: written once the node has saved state
REBUILD_MARKER = "rebuild"  # in a node's directory: start empty on purpose (`cluster restart --rebuild`)


@dataclass
class ClusterMeta:
    """What every node of a cluster agrees on, stored as cluster.json."""

    spec: str
    defines: dict[str, Any]
    nodes: int
    service: str
    peers: list[tuple[str, int]]
    clients: list[tuple[str, int]]

    @staticmethod
    def read(directory: str | Path) -> ClusterMeta:
        p = Path(directory) / "cluster.json"
        try:
            raw = json.loads(p.read_text())
            return ClusterMeta(raw["spec"], dict(raw["defines"]), int(raw["nodes"]), str(raw["service"]),
                               [(h, int(port)) for h, port in raw["peers"]], [(h, int(port)) for h, port in raw["clients"]])
        except FileNotFoundError:
            raise PnyxError(f"{directory}: no cluster here (no cluster.json); start one with `pnyx cluster start`") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PnyxError(f"{p}: unreadable cluster description: {exc}") from None

    def write(self, directory: str | Path) -> None:
        data = {"spec": self.spec, "defines": self.defines, "nodes": self.nodes, "service": self.service,
                "peers": [list(a) for a in self.peers], "clients": [list(a) for a in self.clients]}
        tmp = Path(directory) / "cluster.json.tmp"
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, Path(directory) / "cluster.json")
