"""A node process: `python -m pnyx.impl.server CLUSTER_DIR NODE_INDEX`.

It reads `cluster.json` and `config.toml` from the cluster directory (written by `pnyx
cluster start`), keeps its data in `CLUSTER_DIR/nK/`, and serves until SIGTERM. This module
only wires the host (impl/host.py) to the service the cluster recorded (impl/services.py),
so that neither imports the other.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from pnyx.model.errors import PnyxError

from .host import Host
from .meta import ClusterMeta
from .services import service_class
from .storage import StorageError


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or not args[1].isdigit():
        sys.stderr.write("usage: python -m pnyx.impl.server CLUSTER_DIR NODE_INDEX\n")
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        host = Host(args[0], int(args[1]), service_class(ClusterMeta.read(args[0]).service))
        asyncio.run(host.serve())
    except StorageError as exc:
        sys.stderr.write(f"error: {exc}\nthe node refuses to start on damaged data. Restore its files, or start it "
                         f"empty so that it resynchronizes from its peers: pnyx cluster restart {args[0]} "
                         f"{int(args[1]) + 1} --rebuild\n")
        return 2
    except PnyxError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
