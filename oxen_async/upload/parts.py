"""One large file through the parts protocol (``/versions/uploads``), or the legacy chunk route
on a server without it.

Parts go up to ``parts_in_flight`` at once and never past the server's window (counted from the
first part not yet answered, one short of ``part_window`` because an answered part may not be
hashed yet), each read from disk in a worker thread once it has a slot: at most
``parts_in_flight x part_size`` bytes are in memory per file.

Retries: each request is retried by the session's policy (transport errors, and 429 with its
Retry-After, which is how the server defers a part). This workflow adds one thing the session
cannot know: when the upload is gone (404 on a part: it completed while an answer was lost, or
it idled out) or every part was answered and none reported completion, it begins again, which
answers ``already_stored`` once the file is on the server. It begins at most
``RetryPolicy.attempts`` times, the client's own bound on sending one thing again.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import anyio
import anyio.to_thread

from ..api.uploads import UploadRoute, Uploads, lacks_route, route_choice
from ..api.versions import Versions, _read_chunk
from ..errors import ConfigError, HTTPError, NotFoundError, OxenError, leaf_errors
from ..models import AlreadyStored, AwaitingParts

# Parts of one file in flight (10 MiB each on oxen-server): enough to keep the server's part
# handlers and hashing busy while the socket drains, on a machine with few cores.
PARTS_IN_FLIGHT = 4

ReadRange = Callable[[int, int], Awaitable[bytes]]
"""(offset, length) -> those bytes of the file, checked: a source other than the local disk."""

Outcome = Literal["awaiting_parts", "already_stored", "stored", "completed", "gone"]


@dataclass(frozen=True)
class RequestRecord:
    """One request of the workflow as it ended (the session's own retries not counted)."""

    kind: Literal["begin", "part"]
    outcome: Outcome
    part: int | None = None
    size: int = 0


@dataclass
class LargeFileResult:
    """What sending one large file took."""

    route: UploadRoute
    bytes_sent: int = 0
    already_stored: bool = False
    """The server had the content at the first begin: staged with no bytes sent."""
    begins: int = 0
    requests: list[RequestRecord] = field(default_factory=list)


class NoPartsRoute(OxenError):
    """The server answered the first begin as a route it does not have."""


class UploadNotCompleted(OxenError):
    """Every begin was followed by parts, and none of them completed the file."""


async def send_by_server_route(
    versions: Versions,
    uploads: Uploads,
    local_path: str | os.PathLike[str],
    content_id: str,
    size: int,
    *,
    repo_path: str,
    workspace_id: str,
    mtime_ns: int | None = None,
    parts_in_flight: int = PARTS_IN_FLIGHT,
    legacy_concurrency: int = 2,
    read: ReadRange | None = None,
) -> LargeFileResult:
    """Send one file and stage it at ``repo_path`` in the workspace, by parts where the server
    has them (decided once per client, see ``api.uploads.route_choice``), else by chunks."""
    session = uploads.session
    choice = route_choice(session)
    if await choice.route(session) is UploadRoute.PARTS:
        try:
            result = await upload_in_parts(
                uploads,
                local_path,
                content_id,
                size,
                repo_path=repo_path,
                workspace_id=workspace_id,
                mtime_ns=mtime_ns,
                parts_in_flight=parts_in_flight,
                read=read,
            )
        except NoPartsRoute:
            choice.confirm(UploadRoute.LEGACY)
        else:
            choice.confirm(UploadRoute.PARTS)
            return result
    sent = await versions.upload_file(
        local_path,
        content_id,
        size,
        repo_path=repo_path,
        workspace_id=workspace_id,
        mtime_ns=mtime_ns,
        concurrency=legacy_concurrency,
        read=read,
    )
    return LargeFileResult(UploadRoute.LEGACY, bytes_sent=sent)


async def upload_in_parts(
    uploads: Uploads,
    local_path: str | os.PathLike[str],
    content_id: str,
    size: int,
    *,
    repo_path: str,
    workspace_id: str | None = None,
    mtime_ns: int | None = None,
    parts_in_flight: int = PARTS_IN_FLIGHT,
    max_begins: int | None = None,
    read: ReadRange | None = None,
) -> LargeFileResult:
    """Upload a file hashed to ``content_id`` in parts, staged at ``repo_path`` in
    ``workspace_id`` if given. Raises NoPartsRoute when the server lacks the protocol.

    A file that changed since it was hashed raises FileChangedError (size or mtime differ) or
    fails the server's hash check (400) on the last part; either way nothing is staged.
    """
    if size <= 0:
        raise ConfigError("a parts upload needs a non-empty file (the server refuses size 0)")
    if parts_in_flight <= 0:
        raise ConfigError("parts_in_flight must be positive")
    path = Path(local_path)
    if mtime_ns is None and read is None:
        mtime_ns = (await anyio.to_thread.run_sync(os.stat, path)).st_mtime_ns
    begins = max_begins or uploads.session.retry.attempts
    sender = _PartsSender(
        uploads, path, content_id, size, (size, mtime_ns or 0), parts_in_flight, read
    )
    result = LargeFileResult(UploadRoute.PARTS, requests=sender.log)
    for attempt in range(begins):
        start = await sender.begin(repo_path, workspace_id, first=attempt == 0)
        result.begins += 1
        if isinstance(start, AlreadyStored):
            result.already_stored = attempt == 0
            break
        if await sender.send_parts(start) == "completed":
            break
    else:
        raise UploadNotCompleted(
            f"upload of {content_id} ({size} bytes) not completed after {begins} begins"
        )
    result.bytes_sent = sender.bytes_sent
    return result


class _Window:
    """Admits part n once every part before ``n - reach + 1`` has been answered."""

    def __init__(self, reach: int) -> None:
        self._reach = reach
        self._answered: set[int] = set()
        self._lowest = 1  # the first part not yet answered
        self._moved = anyio.Event()

    async def admit(self, number: int) -> None:
        while number >= self._lowest + self._reach:
            await self._moved.wait()

    def answered(self, number: int) -> None:
        self._answered.add(number)
        while self._lowest in self._answered:
            self._answered.discard(self._lowest)
            self._lowest += 1
        self._moved.set()
        self._moved = anyio.Event()


class _PartsSender:
    """The requests of one file's upload, and the log of what they did."""

    def __init__(
        self,
        uploads: Uploads,
        path: Path,
        content_id: str,
        size: int,
        expected: tuple[int, int],
        parts_in_flight: int,
        read: ReadRange | None = None,
    ) -> None:
        self._uploads = uploads
        self._read = read
        self._path = path
        self._content_id = content_id
        self._size = size
        self._expected = expected
        self._parts_in_flight = parts_in_flight
        self.log: list[RequestRecord] = []
        self.bytes_sent = 0

    async def begin(
        self, repo_path: str, workspace_id: str | None, *, first: bool
    ) -> AwaitingParts | AlreadyStored:
        try:
            start = await self._uploads.begin(
                self._content_id, self._size, workspace_id=workspace_id, path=repo_path
            )
        except HTTPError as error:
            if first and lacks_route(error):
                raise NoPartsRoute(f"server has no parts upload route: {error}") from None
            raise
        outcome: Outcome = (
            "already_stored" if isinstance(start, AlreadyStored) else "awaiting_parts"
        )
        self.log.append(RequestRecord("begin", outcome))
        return start

    async def send_parts(self, start: AwaitingParts) -> Literal["completed", "gone", "incomplete"]:
        """Send every part; "gone" when the server dropped the upload part-way."""
        window = _Window(max(1, start.part_window - 1))
        slots = anyio.Semaphore(max(1, min(self._parts_in_flight, start.part_window - 1)))
        outcome: Literal["completed", "gone", "incomplete"] = "incomplete"

        async def send(number: int) -> None:
            nonlocal outcome
            try:
                offset = (number - 1) * start.part_size
                length = min(start.part_size, self._size - offset)
                if self._read is not None:
                    data = await self._read(offset, length)
                else:
                    data = await anyio.to_thread.run_sync(
                        _read_chunk, self._path, offset, length, self._expected
                    )
                try:
                    completed = await self._uploads.put_part(start.upload_id, number, data)
                except NotFoundError:
                    self.log.append(RequestRecord("part", "gone", number, length))
                    if outcome != "completed":  # else: a resend that arrived after the end
                        outcome = "gone"
                        tg.cancel_scope.cancel()
                    return
                self.bytes_sent += length
                self.log.append(
                    RequestRecord("part", "completed" if completed else "stored", number, length)
                )
                if completed:
                    outcome = "completed"
            finally:
                window.answered(number)
                slots.release()

        try:
            async with anyio.create_task_group() as tg:
                for number in range(1, start.num_parts + 1):
                    await window.admit(number)
                    await slots.acquire()
                    tg.start_soon(send, number)
        except ExceptionGroup as group:
            raise leaf_errors(group)[0] from None
        return outcome
