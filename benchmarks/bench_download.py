"""Download race, side by side in one run: our ``download_folder`` (what ``oxen-async download``
runs), the download wire limit, and (when its Python is given) the official client's
``RemoteRepo.download`` of the folder; against the bundled server or a real oxen-server.

    python benchmarks/bench_download.py [--target bundled|real] [--server-bin PATH]
        [--datasets small,random,huge] [--official-python PATH] [--rss] [--quick] [--repeat N]
    python benchmarks/bench_download.py --smoke    # seconds; what CI runs

Each dataset is uploaded once (by the upload wire limit) into the folder ``data`` of its own
repository; every contender then downloads that folder into an empty local folder in its own
process, once untimed (a warm-up) and then N rounds in rotating order, and its result is
checked (every file there, every byte) before it counts. The table gives medians, paired
ratios, each client's CPU (user + sys) per 1,000 files and per GB, and the server's CPU per
file. The wire limit (_run_wire_download.py) is the fastest request sequence plus writing the
bytes to their final files (no hashing, no temporary files); its receive-only time is in the
JSON (``receive_only_s``). On a tmpfs (``--write-to /dev/shm``) each run's files are deleted
once checked; on a disk they stay until the race is over (why: ``contender``).
Writes results/download-<server>.md/.json/.png (<server>: bundled, real-0.65.2, ...).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _datasets  # noqa: E402
import _race  # noqa: E402
from bench_upload import make_repo, rss_lines  # noqa: E402

from oxen_async.testing.launch import LaunchedServer  # noqa: E402

REMOTE_DIR = "data"
# Issue 10's targets: ours vs the official client, and ours as a share of the wire limit.
TARGETS = {
    "small": {"official": 3.0, "wire": 0.9},
    "random": {"official": 2.0, "wire": 0.9},
    "huge": {"official": 2.0, "wire": 0.9},
}


def seed(server: LaunchedServer, dataset: Path) -> str:
    """A repository whose ``data`` folder holds ``dataset``, committed once."""
    repo = make_repo(server, f"dl-{dataset.name}-{time.time_ns() % 10**10}")
    cmd = [sys.executable, str(HERE / "_run_wire.py"), server.url, repo, str(dataset)]
    cmd += [f"--token={server.token or ''}", "--dest", REMOTE_DIR]
    subprocess.run(cmd, check=True, capture_output=True)
    return repo


def landed(local: Path, expected: list[Path]) -> str | None:
    """What is wrong with a downloaded folder, if anything: file count and bytes, ignoring the
    official client's ``.oxen`` bookkeeping and whichever folder level it nests the files at."""
    got = [p for p in local.rglob("*") if p.is_file() and ".oxen" not in p.parts]
    want = sum(p.stat().st_size for p in expected)
    have = sum(p.stat().st_size for p in got)
    if len(got) != len(expected) or have != want:
        return f"downloaded {len(got)} files / {have} bytes, expected {len(expected)} / {want}"
    return None


def contender(
    kind: str,
    server: LaunchedServer,
    repo: str,
    dataset: Path,
    work: Path,
    official: str | None,
    wire_args: tuple[str, ...] = (),
) -> Callable[[], dict[str, Any]]:
    expected = _datasets.files_of(dataset)
    source = [server.url, repo, "main", REMOTE_DIR]
    token = [f"--token={server.token or ''}"]

    # On a disk, what a run wrote stays until the whole race is over (the temporary work
    # folder goes then): ext4 without a journal (these machines) passes over every inode freed
    # in the last 60 s, 360 s while its table block is dirty, each time it allocates one
    # (``recently_deleted``), so a run after 20,000 files were deleted paid 2-5x the kernel
    # time per file created (perf: most of it in that scan), whoever it was. tmpfs has no such
    # scan, but there creating a file costs more the more files the tmpfs already holds: kept,
    # 20,000 small files a run raised our client CPU from 1.29 to 1.91 s and the wire limit's
    # from 0.70 to 1.58 s in five rounds on real 0.65.2. There each run's files go once it
    # has been checked, outside every clock, so each run meets the same empty tmpfs.
    ephemeral = on_tmpfs(work)

    def run() -> dict[str, Any]:
        local = work / f"dl-{kind}-{time.time_ns()}"
        if kind == "wire":  # it checks what it wrote itself (files, bytes), outside its clock
            cmd = [sys.executable, str(HERE / "_run_wire_download.py"), *source, str(dataset)]
            keep = [f"--work={work}", f"--server-pid={server.process.pid}"]
            keep += [] if ephemeral else ["--keep"]
            return _race.run_process([*cmd, *token, *keep, *wire_args], server)
        if kind == "ours":
            cmd = [sys.executable, str(HERE / "_run_ours_download.py"), *source, str(local)]
        elif kind == "official" and official:
            cmd = [official, str(HERE / "_run_official_download.py"), *source, str(local)]
        else:
            raise ValueError(kind)
        try:
            return _race.run_process([*cmd, *token], server, lambda: landed(local, expected))
        finally:
            if ephemeral:
                shutil.rmtree(local, ignore_errors=True)

    return run


def on_tmpfs(path: Path) -> bool:
    """Whether ``path`` is on a tmpfs (its longest mount point in /proc/mounts says so)."""
    where, kind = "", ""
    target = os.path.realpath(path)
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    for line in mounts:
        fields = line.split()
        point = fields[1]
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(where):
            where, kind = point, fields[2]
    return kind == "tmpfs"


def rss_scaling(
    server: LaunchedServer, base: Path, work: Path, counts: list[int]
) -> dict[str, Any]:
    """Peak RSS of our download for folders of growing size (512 B-1 KiB files)."""
    out: dict[str, Any] = {}
    for count in counts:
        ds = _datasets.small_text(base, count, 512, 1024)
        out[str(count)] = contender("ours", server, seed(server, ds), ds, work, None)()
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _race.add_common_args(p)
    p.add_argument(
        "--rss", action="store_true", help="also peak RSS of ours for 10k, 30k and 100k files"
    )
    p.add_argument(
        "--write-to",
        default=None,
        help="the folder the downloads are written below (default: the system's temporary "
        "folder; /dev/shm takes the disk's file-creation cost out of the race)",
    )
    args = p.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="oxen-bench-") as tmp,
        tempfile.TemporaryDirectory(prefix="oxen-bench-dl-", dir=args.write_to) as written,
    ):
        work = Path(tmp)  # the server's folder, the smoke data
        into = Path(written)
        _race.settle_smoke(args, work)
        kinds = _race.contenders_of(args)
        base = Path(args.data_cache)
        names = [n for n in args.datasets.split(",") if n]
        datasets = _race.dataset_paths(names, base, args.quick, args.smoke)
        rows = []
        with _race.start_server(args.target, work, args.server_bin, args.server_version) as server:
            where = _race.server_name(server)
            for name, path in datasets.items():
                repo = seed(server, path)
                # A warm-up run of every contender first. The wire limit alone (receiving only)
                # warmed the server's store but not its listing path, so our first round, the
                # only one to list a cold tree, ran slowest in races 1, 2 and 6 (the rotation
                # starts with us). Without any, the first run met a server that had just taken
                # the seed: once our first round took 15 s and the next two 5.3 s.
                runs = _race.run_rounds(
                    {
                        k: contender(
                            k, server, repo, path, into, args.official_python, tuple(args.wire_args)
                        )
                        for k in kinds
                    },
                    args.repeat,
                    warm_up=True,
                )
                files = _datasets.files_of(path)
                total = sum(f.stat().st_size for f in files)
                rows.append(_race.summarize(name, len(files), total, runs))
            # 30,000: the first size whose listing (10,000-file nested subtrees) overlaps
            # the transfers, a one-off step up from 10,000.
            counts = [200, 2000] if args.smoke else [10_000, 30_000, 100_000]
            rss = rss_scaling(server, base, into, counts) if args.rss or args.smoke else None
        lines = _race.table(f"Download race against the {where} server", rows)
        lines += _race.target_lines(rows, TARGETS)
        if rss:
            lines += rss_lines("Peak RSS of our download by folder size", rss)
        stem = f"download-{where}"
        _race.write_outputs(args.out, stem, lines, {"rows": rows, "rss": rss})
        _race.chart(args.out / f"{stem}.png", f"Download from the {where} oxen server", rows)
        problems = _race.failed(rows)
        problems += [f"rss/{c}: {r['error']}" for c, r in (rss or {}).items() if "error" in r]
    if problems and args.smoke:
        raise SystemExit("smoke run failed:\n" + "\n".join(problems))


if __name__ == "__main__":
    main()
