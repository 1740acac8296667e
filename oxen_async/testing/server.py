"""Running the test server: in a background thread (tests), or as a process (``serve``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType

from aiohttp import web

from oxen_async.testing.app import build_app, build_router
from oxen_async.testing.context import ServerState
from oxen_async.testing.faults import FaultController
from oxen_async.testing.stats import RequestStats
from oxen_async.testing.storage import Storage
from oxen_async.testing.uploads import UploadLimits, UploadRegistry


class OxenTestServer:
    """An Oxen-compatible HTTP server over a data directory, with a fault-injection API.

    ``start()`` runs it in a daemon thread with its own event loop and returns its URL; the
    ``faults`` controller (and its ``stats``) may then be used from any thread. Inside a running
    loop use ``await start_async()`` / ``await stop_async()`` instead.
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        auth_token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        worker_threads: int = 8,
        shutdown_timeout: float = 2.0,
        upload_limits: UploadLimits | None = None,
    ) -> None:
        """``upload_limits``: part size, per-upload memory (the window) and idle timeout of
        ``/versions/uploads``; the real server's by default (10 MiB, 1 GiB, 60 s)."""
        self.data_dir = Path(data_dir)
        self.auth_token = auth_token
        self.host = host
        self.port = port
        self.worker_threads = worker_threads
        self.shutdown_timeout = shutdown_timeout
        self.faults = FaultController()
        self.storage = Storage(self.data_dir)
        self.uploads = UploadRegistry(upload_limits)
        self._sweeper: asyncio.Task[None] | None = None
        self.url: str | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def stats(self) -> RequestStats:
        return self.faults.stats

    @staticmethod
    def route_names() -> frozenset[str]:
        """Names accepted by the ``route=`` selector of fault rules and used by ``stats``."""
        return build_router().names()

    def make_app(self) -> web.Application:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self.worker_threads, thread_name_prefix="oxen-test-server"
            )
        state = ServerState(
            self.storage, self.faults, self.auth_token, self._executor, self.uploads
        )
        return build_app(state)

    # --- inside a running loop ---------------------------------------------------------------

    async def start_async(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.storage.clean_tmp()
        runner = web.AppRunner(
            self.make_app(), access_log=None, shutdown_timeout=self.shutdown_timeout
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_idle_uploads())
        host, port = runner.addresses[0][:2]
        self.url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        return self.url

    async def _sweep_idle_uploads(self) -> None:
        while True:
            await asyncio.sleep(self.uploads.sweep_period())
            self.uploads.abort_idle()

    async def stop_async(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None
        self.uploads.abort_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    # --- in a background thread --------------------------------------------------------------

    def start(self) -> str:
        """Start in a daemon thread; returns the base URL once the port is bound."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as error:
                failure.append(error)
                ready.set()
                loop.close()
                return
            self._stopped = asyncio.Event()
            ready.set()
            try:
                loop.run_until_complete(self._stopped.wait())
                loop.run_until_complete(self.stop_async())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="oxen-test-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        assert self.url is not None
        return self.url

    def stop(self) -> None:
        loop, stopped, thread = self._loop, self._stopped, self._thread
        if loop is None or stopped is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(stopped.set)
        thread.join(timeout=30)
        self._loop = self._stopped = self._thread = None

    def __enter__(self) -> OxenTestServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


async def serve(
    host: str,
    port: int,
    data_dir: Path,
    auth_token: str | None,
    *,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until cancelled. Data persists in ``data_dir`` across restarts. Without a token
    there is no auth; with one, every request needs ``Authorization: Bearer <token>``."""
    server = OxenTestServer(
        data_dir, auth_token=auth_token, host=host, port=port, shutdown_timeout=30.0
    )
    url = await server.start_async()
    if ready is not None:
        ready(url)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop_async()


def run_server(
    host: str = "127.0.0.1",
    port: int = 3000,
    data_dir: Path = Path("data"),
    auth_token: str | None = None,
    *,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Blocking ``serve`` that stops cleanly on SIGINT or SIGTERM (in-flight requests get up to
    30 s, as on the real server)."""

    async def main() -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await serve(host, port, data_dir, auth_token, ready=ready)

    asyncio.run(main())
