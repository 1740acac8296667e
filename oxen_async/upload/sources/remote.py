"""An fsspec URL as an upload source: its listing, and reads checked against that listing.

The filesystem comes from ``fsspec.url_to_fs(url, **storage_options)``, so credentials and
endpoints come the way fsspec gives them (its configuration files, ``FSSPEC_<PROTOCOL>_*`` and
the store's own environment, such as ``AWS_ENDPOINT_URL``), or from ``storage_options``.

An async filesystem (s3fs, gcsfs, http...) runs its coroutines on fsspec's own event loop; we
await them from ours (``_on_fs_loop``) without a thread per call. A blocking one (memory, sftp,
...) is called in worker threads. Every read is checked against the listing: the size, and the
change token (``tokens.py``) of the object as the read found it, so bytes of two versions are
never staged as one file (``SourceChangedError``, the file fails; the rest go on).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Mapping
from typing import Any, TypeGuard, TypeVar

import anyio.to_thread

from ...errors import ConfigError, FileChangedError
from ..scan import CHUNK, LocalFile, Problem, ScanItem
from .tokens import change_token, content_token

T = TypeVar("T")

READ_RANGE = 8 * 1024 * 1024  # a large file is hashed a range at a time: bounded memory


class SourceError(ConfigError):
    """A source URL that cannot be uploaded from: nothing was sent."""


class SourceChangedError(FileChangedError):
    """An object changed between the listing and a read of it."""


def is_url(source: object) -> TypeGuard[str]:
    """Whether ``source`` is an fsspec URL (``proto://...``, ``a::b://...``), not a local path.
    ``file://`` URLs count as local: they take the local fast path."""
    if not isinstance(source, str):
        return False
    head, sep, _ = source.partition("://")
    if not sep or not head[:1].isalpha() or not all(c.isalnum() or c in "+.-:" for c in head):
        return False
    return head.rpartition("::")[2] != "file" or "::" in head


def local_path_of(source: str) -> str:
    """The local path of a ``file://`` URL (any other string is returned as it is)."""
    return source.removeprefix("file://") if source.startswith("file://") else source


def open_source(url: str, storage_options: Mapping[str, Any] | None = None) -> RemoteSource:
    """The filesystem behind ``url``; SourceError when its protocol cannot be used here."""
    try:
        import fsspec
        from fsspec.registry import known_implementations
    except ImportError:
        raise SourceError(
            f"{url}: URL sources need fsspec (pip install 'oxen-async[fsspec]')"
        ) from None
    protocol = url.partition("://")[0].rpartition("::")[2]
    try:
        fs, root = fsspec.url_to_fs(url, **dict(storage_options or {}))
    except ImportError as exc:
        known = known_implementations.get(protocol, {})
        hint = known.get("err") or str(exc)
        extra = " (or pip install 'oxen-async[s3]')" if protocol in ("s3", "s3a") else ""
        raise SourceError(
            f"{url}: the {protocol}:// protocol is not installed: {hint}{extra}"
        ) from None
    except ValueError as exc:
        raise SourceError(f"{url}: {exc}") from None
    except TypeError as exc:  # a storage option the filesystem does not take
        raise SourceError(f"{url}: bad storage option: {exc}") from None
    return RemoteSource(url.rstrip("/"), fs, root.rstrip("/"))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class RemoteSource:
    """One fsspec folder being uploaded; paths below are relative to it, '/'-separated."""

    def __init__(self, url: str, fs: Any, root: str) -> None:
        self.url = url
        self.fs = fs
        self.root = root
        self._is_s3 = type(fs).__module__.startswith("s3fs") and hasattr(fs, "_call_s3")

    def __repr__(self) -> str:  # never the storage options: they may hold secrets
        return f"RemoteSource({self.url!r})"

    @property
    def key(self) -> str:
        """What identifies the source in the upload state's key (with its endpoint, if any)."""
        options = getattr(self.fs, "storage_options", {}) or {}
        endpoint = options.get("endpoint_url") or (options.get("client_kwargs") or {}).get(
            "endpoint_url", ""
        )
        return f"{self.url}\0{endpoint}"

    def where(self, path: str) -> str:
        """A filesystem path as the user's URL (for messages)."""
        rel = path[len(self.root) :].lstrip("/") if path.startswith(self.root) else path
        return f"{self.url}/{rel}" if rel else self.url

    async def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """``fs.<method>``: its coroutine on fsspec's loop where the fs is async."""
        if getattr(self.fs, "async_impl", False):
            return await _on_fs_loop(self.fs, getattr(self.fs, f"_{method}")(*args, **kwargs))

        def run() -> Any:
            return getattr(self.fs, method)(*args, **kwargs)

        return await anyio.to_thread.run_sync(run)

    # -- the folder -----------------------------------------------------------------------

    async def check(self) -> None:
        """Raise SourceError unless the URL names a folder we may list."""
        try:
            info = await self.call("info", self.root)
        except FileNotFoundError:
            raise SourceError(f"{self.url}: no such bucket or folder") from None
        except PermissionError as exc:
            raise SourceError(
                f"{self.url}: the store refused the credentials: {_reason(exc)}"
            ) from None
        except Exception as exc:  # a store's client raises its own kinds (connection refused)
            raise SourceError(f"{self.url}: cannot reach the source: {_reason(exc)}") from None
        if info.get("type") != "directory":
            raise SourceError(f"{self.url}: is a file, not a folder")

    async def holds(self, rel: str) -> bool:
        """Whether the folder has something at ``rel`` (a path below it)."""
        try:
            return bool(await self.call("exists", f"{self.root.rstrip('/')}/{rel}"))
        except Exception as exc:  # as in ``check``: the store's client raises its own kinds
            raise SourceError(f"{self.where(rel)}: cannot ask the source: {_reason(exc)}") from None

    async def pieces(self) -> AsyncIterator[tuple[str, list[ScanItem]]]:
        """``(rel_dir, entries)`` of at most CHUNK entries, directories depth first in name
        order, as ``scan.scan`` yields a local folder: a directory's listing at a time."""
        stack: list[tuple[str, str]] = [(self.root, "")]
        while stack:
            path, rel_dir = stack.pop()
            try:
                entries = await self.call("ls", path, detail=True)
            except Exception as exc:  # reported by path: the other folders go on
                where = self.where(path)
                if isinstance(exc, PermissionError):
                    raise SourceError(f"{where}: the store refused the credentials") from None
                yield rel_dir, [Problem(rel_dir or ".", f"cannot list {where}: {_reason(exc)}")]
                continue
            finally:
                self.fs.invalidate_cache(path)  # one directory's listing in memory, not all
            subdirs: list[tuple[str, str]] = []
            items: list[ScanItem] = []
            for info in sorted(entries, key=lambda i: str(i["name"])):
                name = str(info["name"]).rstrip("/")
                if name == path or not name.startswith(path + "/"):
                    continue  # the folder itself (a "dir/" marker object)
                base = name[len(path) + 1 :]
                rel = f"{rel_dir}/{base}" if rel_dir else base
                kind = info.get("type")
                if kind == "directory":
                    subdirs.append((name, rel))
                    continue
                if kind != "file":
                    items.append(Problem(rel, f"not a file ({kind}), not uploaded"))
                else:
                    mtime_ns, token = change_token(info)
                    items.append(LocalFile(rel, name, int(info.get("size") or 0), mtime_ns, token))
                if len(items) >= CHUNK:
                    yield rel_dir, items
                    items = []
            if items:
                yield rel_dir, items
            stack.extend(reversed(subdirs))

    # -- reads ----------------------------------------------------------------------------

    async def read(
        self, path: str, size: int, token: int, start: int = 0, end: int | None = None
    ) -> bytes:
        """Bytes ``start:end`` (``end`` None: to the end) of the object listed with ``size``
        and ``token``. Raises SourceChangedError when it is no longer that object, OSError
        when it cannot be read."""
        try:
            return await self._read(path, size, token, start, end)
        except (OSError, FileChangedError):
            raise
        except Exception as exc:  # a store client's own error: a read error, by path
            raise OSError(f"{self.where(path)}: {_reason(exc)}") from exc

    async def _read(self, path: str, size: int, token: int, start: int, end: int | None) -> bytes:
        stop = size if end is None else min(end, size)
        if self._is_s3:
            data, found = await _on_fs_loop(self.fs, self._s3_get(path, start, stop))
        else:
            data = await self.call("cat_file", path, start=start, end=stop) if stop > start else b""
            self.fs.invalidate_cache(path)
            info = await self.call("info", path)
            found = (int(info.get("size") or 0), change_token(info)[1])
        if found[0] != size or found[1] != token:
            raise SourceChangedError(f"{self.where(path)}: changed while it was read")
        if len(data) != stop - start:
            raise SourceChangedError(f"{self.where(path)}: changed while it was read (short read)")
        return bytes(data)

    async def _s3_get(
        self, path: str, start: int, stop: int
    ) -> tuple[bytes, tuple[int, int | None]]:
        """One GET (ranged unless whole): the body and the object's (size, ETag token) as that
        very response served it, so the check and the bytes belong to one version."""
        bucket, key, version = self.fs.split_path(path)
        kwargs: dict[str, Any] = {"VersionId": version} if version else {}
        if stop <= start:
            head = await self.fs._call_s3("head_object", Bucket=bucket, Key=key, **kwargs)
            return b"", (int(head["ContentLength"]), content_token(head))
        kwargs["Range"] = f"bytes={start}-{stop - 1}"
        resp = await self.fs._call_s3("get_object", Bucket=bucket, Key=key, **kwargs)
        try:
            data = await resp["Body"].read()
        finally:
            resp["Body"].close()
        total = str(resp.get("ContentRange", "")).rpartition("/")[2]
        size = int(total) if total.isdigit() else int(resp.get("ContentLength", len(data)))
        return data, (size, content_token(resp))

    async def hash(self, path: str, size: int, token: int, also: Any = None) -> str:
        """The content id of a listed object, read a range at a time; each range is fed to
        ``also`` too (the manifest's blake3, from the same read)."""
        from ...hashing import StreamingHasher

        hasher = StreamingHasher()
        for start in range(0, max(size, 1), READ_RANGE):
            data = await self.read(path, size, token, start, start + READ_RANGE)
            hasher.update(data)
            if also is not None:
                also.update(data)
        return hasher.hexdigest()


async def _on_fs_loop(fs: Any, coro: Coroutine[Any, Any, T]) -> T:
    """Await a coroutine of ``fs`` on the loop it belongs to (fsspec's IO thread)."""
    loop = fs.loop
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:  # pragma: no cover - always called from a running loop
        running = None
    if running is loop:
        return await coro
    return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, loop))


__all__ = [
    "RemoteSource",
    "SourceChangedError",
    "SourceError",
    "is_url",
    "local_path_of",
    "open_source",
]
