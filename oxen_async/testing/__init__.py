"""An Oxen-compatible local server for tests and demos (aiohttp), plus its pytest plugin.

Importable without pytest. Main entry points:

- ``OxenTestServer``: the server object (``start()``/``stop()`` in a thread, ``faults``, ``stats``);
- ``serve`` / ``run_server``: run it as a process (``python -m oxen_async.testing``);
- ``ServerHandle`` / ``start_fake_server``: what the ``oxen_server`` fixture yields.
"""

from oxen_async.testing.faults import FaultController, FaultRule
from oxen_async.testing.handle import RepoHandle, ServerHandle, start_fake_server
from oxen_async.testing.server import OxenTestServer, run_server, serve
from oxen_async.testing.stats import RequestStats, RouteStats

__all__ = [
    "FaultController",
    "FaultRule",
    "OxenTestServer",
    "RepoHandle",
    "RequestStats",
    "RouteStats",
    "ServerHandle",
    "run_server",
    "serve",
    "start_fake_server",
]
