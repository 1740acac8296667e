"""Ingestion past one machine: Dask workers upload shards of the sources into ONE workspace, the
driver checks it against their reports and merges it once (``upload/shards.py``).

    report = ingest(None, "data/", "ns/repo")                 # a LocalCluster of this machine
    report = ingest(Client("tcp://sched:8786"), [("a/", "train"), ("b/", "test")], "ns/repo")

Needs the ``dask`` extra (dask + distributed) on the driver and every worker, and the sources
at the same path on every worker (a shared filesystem, or a LocalCluster). Dask's own retries
re-run a failed shard (``retries``; a dead worker's shards are re-run by the scheduler), and a
re-run resends nothing its shard had staged. The driver lists each source once and each task
carries its shard's share of that listing (``upload.share``): no worker lists the source.
A shard never merges; the driver merges once, only when every shard reported and the workspace
holds exactly what they reported.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import msgspec

from . import config, paths
from ._version import __version__
from .errors import ConfigError, OxenError
from .models import Commit
from .upload.report import UploadReport
from .upload.settings import (
    DEFAULT_BATCH_FILES,
    DEFAULT_CONCURRENCY,
    Shard,
    absolute,
    check_folder,
    resolve_state_dir,
)
from .upload.shards import (
    ShardReport,
    check_commit,
    combine,
    discard_workspace,
    expected_files,
    merge_shards,
    open_shared_workspace,
    stage_shard,
)
from .upload.share import list_shares
from .upload.sources import is_url, open_source

if TYPE_CHECKING:
    from distributed import Client

    from .client import RemoteRepo

T = TypeVar("T")

__all__ = ["ShardFailedError", "ShardTask", "check_workers", "connect", "ingest", "run_shard"]

Source = str | os.PathLike[str] | tuple[str | os.PathLike[str], str]
SCHEDULER_TIMEOUT_S = 10


class ShardFailedError(Exception):
    """A shard's upload broke off (its report's error): raised on the worker so that Dask
    retries it; the last try's report (msgspec JSON) travels with it, pickled as ``args``."""

    def __init__(self, message: str, report: bytes = b"") -> None:
        super().__init__(message, report)
        self.message = message
        self.report = report

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:  # what Dask logs: the message, not the report
        return f"ShardFailedError({self.message!r})"


@dataclass(frozen=True)
class ShardTask:
    """Everything a worker needs for one shard (the token is never in its repr: Dask logs
    the arguments of a task that fails)."""

    host: str
    repo: str
    branch: str
    workspace_id: str
    source: str
    dest: str
    shard: int
    shards: int
    author_name: str
    author_email: str
    concurrency: int
    batch_files: int
    state_dir: str | None
    token: str | None = field(default=None, repr=False)
    # A URL source's filesystem options (they may hold keys: never in the repr either).
    storage_options: dict[str, Any] | None = field(default=None, repr=False)
    # The shard's share of the driver's one listing (upload.share); None: the shard walks.
    share: bytes | None = field(default=None, repr=False)


def run_shard(task: ShardTask) -> bytes:
    """A Dask task: stage one shard, return its ShardReport (msgspec JSON)."""
    report = anyio.run(_stage, task)
    if report.report.error is not None:
        raise ShardFailedError(
            f"shard {task.shard}/{task.shards} of {task.source}: {report.report.error}",
            msgspec.json.encode(report),
        )
    return msgspec.json.encode(report)


async def _stage(task: ShardTask) -> ShardReport:
    from .client import OxenClient

    async with OxenClient(task.host, token=task.token) as oxen:
        return await stage_shard(
            oxen.repo(task.repo),
            task.source,
            workspace_id=task.workspace_id,
            shard=Shard(task.shard, task.shards),
            branch=task.branch,
            dest=task.dest,
            author=config.Author(task.author_name, task.author_email),
            concurrency=task.concurrency,
            batch_files=task.batch_files,
            state_dir=task.state_dir,
            storage_options=task.storage_options,
            share=task.share,
        )


def _version_probe() -> Callable[[], str | None]:
    """What each worker runs to say which oxen_async it has (None: absent or broken).

    A function made here is local, so cloudpickle sends it by value and a worker without
    oxen_async can still run it (a task naming oxen_async.dask.run_shard breaks such a worker's
    connection instead, and Dask waits for it forever).
    """

    def probe() -> str | None:

        try:
            return str(importlib.import_module("oxen_async._version").__version__)
        except Exception:  # absent, or present and broken: either way unusable there
            return None

    return probe


def check_workers(client: Client) -> None:
    """Every worker runs our version of oxen_async; raises ConfigError naming those that do
    not, or when the cluster has no workers."""
    versions: dict[str, str | None] = client.run(_version_probe())
    if not versions:
        raise ConfigError("the Dask cluster has no workers")
    missing = sorted(w for w, v in versions.items() if v is None)
    if missing:
        raise ConfigError(
            f"{len(missing)} Dask worker(s) cannot import oxen_async ({', '.join(missing[:3])}): "
            "install oxen-async[dask] there"
        )
    other = sorted(f"{w} ({v})" for w, v in versions.items() if v != __version__)
    if other:
        raise ConfigError(
            f"Dask worker(s) run another oxen_async than the driver's {__version__}: "
            + ", ".join(other[:3])
        )


def _pairs(
    sources: Source | Sequence[Source], storage_options: dict[str, Any] | None = None
) -> list[tuple[str, str]]:
    """(absolute local folder or URL, repo folder) per source, each checked here, on the
    driver (a URL: its protocol installed, its folder there and readable)."""
    items: Sequence[Source] = (
        [sources] if isinstance(sources, str | os.PathLike | tuple) else sources
    )
    if not items:
        raise ConfigError("no sources to upload")
    out: list[tuple[str, str]] = []
    for item in items:
        local, dest = item if isinstance(item, tuple) else (item, "")
        if is_url(local):
            anyio.run(open_source(local, storage_options).check)
            out.append((local, paths.repo_path(dest)))
        else:
            out.append((str(check_folder(absolute(Path(local)))), paths.repo_path(dest)))
    return out


@contextlib.contextmanager
def connect(address: str | None) -> Iterator[Client]:
    """A Dask client: ``tcp://host:port`` (an existing scheduler), ``local:N`` (a LocalCluster
    of N worker processes) or None (a LocalCluster of one process per core). Raises
    ConfigError when the scheduler cannot be reached."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ConfigError("Dask is not installed: pip install 'oxen-async[dask]'") from None
    if address is None or address.startswith("local:"):
        count = os.cpu_count() or 1
        if address is not None:
            text = address.removeprefix("local:")
            if not text.isdigit() or int(text) < 1:
                raise ConfigError(f"--dask local:N needs a positive number, got {address!r}")
            count = int(text)
        with (
            LocalCluster(
                n_workers=count, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client
        return
    try:
        client = Client(address, timeout=SCHEDULER_TIMEOUT_S)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    with client:
        yield client


def ingest(
    client: Client | None,
    sources: Source | Sequence[Source],
    repo: str,
    *,
    branch: str = "main",
    host: str | None = None,
    token: str | None = None,
    message: str | None = None,
    author: config.Author | None = None,
    shards: int | None = None,
    retries: int = 2,
    concurrency: int = DEFAULT_CONCURRENCY,
    batch_files: int = DEFAULT_BATCH_FILES,
    state_dir: str | os.PathLike[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> UploadReport:
    """Upload ``sources`` (a folder or fsspec URL, or several, or (source, repo folder)
    pairs; URLs opened with ``storage_options`` on every worker) to ``repo``
    (``ns/name``) on ``branch`` as ONE commit, the work spread over Dask workers; ``client``
    None runs a LocalCluster. Each source is cut into ``shards`` (default: two per worker
    thread) by a hash of the path. The report is a one-machine upload's, for every file.

    Raises ConfigError (bad arguments, no scheduler), NotFoundError, UnauthorizedError or
    TransportError before anything is staged; later failures land in the report, and then
    nothing is merged.
    """
    options = dict(storage_options) if storage_options else None
    pairs = _pairs(sources, options)
    who = author or config.resolve_author()
    if who is None:
        raise ConfigError("no commit author: pass author, or set it in oxen's user_config.toml")
    resolved = config.resolve_host(host)
    if (shards is not None and shards < 1) or concurrency < 1 or batch_files < 1:
        raise ConfigError("shards, concurrency and batch_files must be positive")
    job = _Job(
        host=resolved,
        token=config.resolve_token(token, resolved),
        repo=repo,
        branch=branch,
        author=who,
        shards=shards,
        retries=retries,
        concurrency=concurrency,
        batch_files=batch_files,
        state_dir=str(state_dir) if state_dir is not None else None,
        storage_options=options,
    )
    if client is None:
        with connect(None) as local:
            return job.run(local, pairs, message)
    return job.run(client, pairs, message)


@dataclass(kw_only=True)
class _Job:
    """One ingestion's checked arguments, and its run on the driver."""

    host: str
    token: str | None = field(repr=False)
    repo: str
    branch: str
    author: config.Author
    shards: int | None
    retries: int
    concurrency: int
    batch_files: int
    state_dir: str | None
    storage_options: dict[str, Any] | None = field(default=None, repr=False)

    def run(
        self, client: Client, pairs: list[tuple[str, str]], message: str | None
    ) -> UploadReport:
        started = time.perf_counter()
        check_workers(client)
        count = self.shards or max(1, 2 * sum(client.nthreads().values()))
        # Listed once, here, before the workspace exists (a listing refused fails with nothing
        # made); each task then carries only its share, as compressed bytes.
        shares = [anyio.run(self._shares, source, count) for source, _ in pairs]
        workspace_id = anyio.run(self._call, lambda repo: open_shared_workspace(repo, self.branch))
        tasks = [
            ShardTask(
                host=self.host,
                repo=self.repo,
                branch=self.branch,
                workspace_id=workspace_id,
                source=source,
                dest=dest,
                shard=index,
                shards=count,
                author_name=self.author.name,
                author_email=self.author.email,
                concurrency=self.concurrency,
                batch_files=self.batch_files,
                state_dir=self.state_dir,
                token=self.token,
                storage_options=self.storage_options,
                share=share,
            )
            for (source, dest), of_source in zip(pairs, shares, strict=True)
            for index, share in enumerate(of_source)
        ]
        del shares  # the tasks hold them now
        futures = [
            client.submit(run_shard, t, key=f"oxen-shard-{workspace_id}-{n}", retries=self.retries)
            for n, t in enumerate(tasks)
        ]
        reports, errors = _gather(client, futures, tasks)
        dest = pairs[0][1] if len(pairs) == 1 else ""
        commit = None
        error: str | None = "; ".join(errors) if errors else None
        if error is None:
            total = sum(r.report.files_uploaded + r.report.files_resumed for r in reports)
            text = message or f"Upload {total} file(s) to {dest or '/'}"
            try:
                commit = anyio.run(
                    self._call, lambda repo: self._merge(repo, workspace_id, reports, text)
                )
                if commit is not None:  # the commit exists: a mismatch is reported beside it
                    wanted = expected_files(reports)
                    anyio.run(self._call, lambda repo: check_commit(repo, commit.id, wanted))
            except OxenError as exc:
                error = str(exc)
        if error is not None and commit is None:
            with contextlib.suppress(OxenError):
                anyio.run(self._call, lambda repo: discard_workspace(repo, workspace_id))
        return combine(
            reports,
            repo=self.repo,
            branch=self.branch,
            dest=dest,
            commit=commit,
            error=error,
            elapsed_s=time.perf_counter() - started,
        )

    async def _shares(self, source: str, count: int) -> list[bytes]:
        """``source`` listed once and cut into ``count`` shares (its state folder left out, as
        a shard's own walk leaves it out)."""
        listed = await list_shares(
            source,
            count,
            storage_options=self.storage_options,
            exclude=frozenset({str(resolve_state_dir(self.state_dir))}),
        )
        return listed.finish()

    async def _call(self, step: Callable[[RemoteRepo], Awaitable[T]]) -> T:
        """One driver step on the repository, with its own client (and event loop)."""
        from .client import OxenClient

        async with OxenClient(self.host, token=self.token) as oxen:
            return await step(oxen.repo(self.repo))

    async def _merge(
        self, repo: RemoteRepo, workspace_id: str, reports: list[ShardReport], message: str
    ) -> Commit | None:
        return await merge_shards(
            repo, workspace_id, self.branch, reports, message=message, author=self.author
        )


def _gather(
    client: Client, futures: list[Any], tasks: list[ShardTask]
) -> tuple[list[ShardReport], list[str]]:
    """Every shard's report, and an error line for each shard that failed for good."""
    from distributed import wait

    wait(futures)
    reports: list[ShardReport] = []
    errors: list[str] = []
    for future, task in zip(futures, tasks, strict=True):
        if future.status == "finished":
            reports.append(msgspec.json.decode(future.result(), type=ShardReport))
            continue
        exc = future.exception()
        where = f"shard {task.shard}/{task.shards} of {task.source}"
        if isinstance(exc, ShardFailedError):
            errors.append(exc.message)
            if exc.report:  # its files count in the job's report (failed or pending)
                reports.append(msgspec.json.decode(exc.report, type=ShardReport))
        else:
            errors.append(f"{where}: {type(exc).__name__}: {exc}")
    return reports, errors
