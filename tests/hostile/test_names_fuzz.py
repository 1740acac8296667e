"""Every name the local file system accepts either round-trips (upload, then download, same
bytes under the same name) or is refused before sending, with the reason of the one name rule
(``oxen_async.paths.name_problem``). Written against the public API only.

Each hypothesis example uploads a handful of generated names into its own folder of one
repository and downloads that folder back; the examples share the repository, not the folders.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oxen_async import Author, OxenClient, paths
from oxen_async.testing import RepoHandle

AUTHOR = Author("Fuzz", "fuzz@example.com")

# Which word of the rule's reason the uploader's failure must repeat, per kind of problem.
KEYWORDS = ("backslash", "control character", "UTF-8", "bytes", "component")

# Names as a file system sees them: anything but '/' and NUL, weighted towards the awkward.
_awkward = st.sampled_from([*"\\ %+#?&=;:'\"*<>|~`$!@^()[]{},.-_", "\n", "\t", "\x7f"])
_any_char = st.characters(blacklist_characters="/\x00", blacklist_categories=("Cs",))
_part = st.lists(st.one_of(_awkward, _any_char), min_size=1, max_size=24).map("".join)
_long = st.tuples(_part, st.integers(200, 260)).map(lambda t: (t[0] + "x" * t[1])[: t[1]])
_undecodable = st.binary(min_size=1, max_size=12).map(
    lambda b: os.fsdecode(b.replace(b"/", b"_").replace(b"\x00", b"_") + b"\xff")
)
_name = st.one_of(_part, _part, _long, _undecodable).filter(lambda n: n not in (".", ".."))
_names = st.lists(_name, min_size=1, max_size=6, unique_by=lambda n: os.fsencode(n).lower())


def _display(name: str) -> str:
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _write(root: Path, names: list[str]) -> dict[str, bytes]:
    """Create what the local file system accepts; the rest is not a name it accepts."""
    written: dict[str, bytes] = {}
    for i, name in enumerate(names):
        data = f"file {i}: {name!r}\n".encode("utf-8", "backslashreplace")
        try:
            (root / name).write_bytes(data)
        except OSError:
            continue
        written[name] = data
    return written


async def _round_trip(handle: RepoHandle, names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp, "src"), Path(tmp, "out")
        src.mkdir()
        files = _write(src, names)
        if not files:
            return
        dest = f"fuzz-{uuid.uuid4().hex[:8]}"
        async with OxenClient(handle.server.url, token=handle.server.token) as oxen:
            repo = oxen.repo(handle.namespace, handle.name)
            up = await repo.upload_folder(
                src, dest=dest, author=AUTHOR, state_dir=Path(tmp, "state")
            )
            failed = {f.path: f.reason for f in up.failed}
            accepted = {n: d for n, d in files.items() if paths.name_problem(n) is None}
            for name in set(files) - set(accepted):
                problem = paths.name_problem(name)
                assert problem is not None
                reason = failed.get(_display(name))
                assert reason is not None, f"{name!r} ({problem}) was not refused: {up}"
                keyword = next(k for k in KEYWORDS if k in problem)
                assert keyword in reason, (name, problem, reason)
            for name in accepted:
                assert _display(name) not in failed, (name, failed)
            if not accepted:
                assert up.commit_id is None  # nothing was sent, nothing committed
                return
            down = await repo.download_folder("main", dest, out)
        assert down.failed == {}, down.failed
        got = {
            os.fsdecode(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()
        }
        assert got == accepted


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(names=_names)
def test_every_name_round_trips_or_is_refused_before_sending(
    oxen_repo: RepoHandle, names: list[str]
) -> None:
    asyncio.run(_round_trip(oxen_repo, names))


def test_known_hostile_names(oxen_repo: RepoHandle) -> None:
    """The cases of issue 9 (a backslash, a 250-byte name) and their neighbours, every run."""
    names = [
        "back\\slash.txt",
        "n" * 250,
        "é" * 127 + "x",  # 255 bytes of UTF-8
        "new\nline.txt",
        "trailing space ",
        "100% + #hash?.txt",
        "naïve café.txt",
    ]
    asyncio.run(_round_trip(oxen_repo, names))
