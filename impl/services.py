"""The services a node can run, by name, and how `pnyx cluster start` picks one.

The registry is the one module that knows every service; the host and the services
themselves know none of it. A cluster's service is chosen by `--service` or by `service`
in its config.toml; without either, a spec named like a service (zab, gossip, members) gets it
and any other spec gets `raw`. Whichever way it was chosen, the spec must fit it.
"""

from __future__ import annotations

from pnyx.model.compiler import CompiledSpec

from .gossip_service import GossipService
from .members_service import MembersService
from .raw_service import RawService
from .service import Service, ServiceError
from .zab_service import ZabService

SERVICES: dict[str, type[Service]] = {s.name: s for s in (ZabService, GossipService, MembersService, RawService)}


def service_class(name: str) -> type[Service]:
    """The service called `name`; a ServiceError naming the known ones otherwise."""
    cls = SERVICES.get(name)
    if cls is None:
        raise ServiceError(f"unknown service {name!r}: choose one of {', '.join(SERVICES)}")
    return cls


def infer_service(cs: CompiledSpec) -> str:
    """The default service of a spec: the one it is named after, else raw."""
    return cs.name if cs.name in SERVICES else "raw"


def choose_service(cs: CompiledSpec, requested: str | None) -> str:
    """The service to run `cs` with (the requested one, else the inferred one), checked to fit the spec."""
    name = requested if requested is not None else infer_service(cs)
    service_class(name).needs.check(cs, name)
    return name
