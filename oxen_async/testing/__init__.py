"""An Oxen-compatible local server for tests and demos (aiohttp), plus its pytest plugin.

Importable without pytest. Main entry points:

- ``OxenTestServer``: the server object (``start()``/``stop()`` in a thread, ``faults``, ``stats``);
- ``serve`` / ``run_server``: run it as a process (``python -m oxen_async.testing``);
- ``ServerHandle`` / ``start_fake_server``: what the ``oxen_server`` fixture yields;
- ``Relay``: a loopback HTTP relay to put in front of any server, to count, stall or cut;
- ``loopback_app``: a test's own aiohttp app on a loopback port (an odd or hostile server).

Names load on first use: the pytest plugin lives in this package, and a project that installs
us must not pay for aiohttp.web in every pytest run until it uses a fixture.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oxen_async.testing.faults import FaultController, FaultRule
    from oxen_async.testing.handle import RepoHandle, ServerHandle, start_fake_server
    from oxen_async.testing.loopback import loopback_app
    from oxen_async.testing.relay import Relay
    from oxen_async.testing.relay_rules import RelayStats, Tripwire
    from oxen_async.testing.server import OxenTestServer, run_server, serve
    from oxen_async.testing.stats import RequestStats, RouteStats

_EXPORTS = {
    "FaultController": "oxen_async.testing.faults",
    "FaultRule": "oxen_async.testing.faults",
    "OxenTestServer": "oxen_async.testing.server",
    "Relay": "oxen_async.testing.relay",
    "RelayStats": "oxen_async.testing.relay_rules",
    "RepoHandle": "oxen_async.testing.handle",
    "RequestStats": "oxen_async.testing.stats",
    "RouteStats": "oxen_async.testing.stats",
    "ServerHandle": "oxen_async.testing.handle",
    "Tripwire": "oxen_async.testing.relay_rules",
    "loopback_app": "oxen_async.testing.loopback",
    "run_server": "oxen_async.testing.server",
    "serve": "oxen_async.testing.server",
    "start_fake_server": "oxen_async.testing.handle",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'oxen_async.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "FaultController",
    "FaultRule",
    "OxenTestServer",
    "Relay",
    "RelayStats",
    "RepoHandle",
    "RequestStats",
    "RouteStats",
    "ServerHandle",
    "Tripwire",
    "loopback_app",
    "run_server",
    "serve",
    "start_fake_server",
]
