"""Upload race, side by side in one run: our uploader, the wire limit, and (when its Python is
given) the official oxen client; against the bundled server or a real oxen-server.

    python benchmarks/bench_upload.py [--target bundled|real] [--server-bin PATH]
        [--datasets small,random,huge] [--official-python PATH] [--rss] [--quick] [--repeat N]
    python benchmarks/bench_upload.py --smoke      # seconds; what CI runs

Writes results/upload-<server>.md/.json/.png (<server>: bundled, real-0.65.2, ...). Each
contender runs in its own process (its CPU and peak RSS are its own) against a fresh repository
on the same server; each dataset runs N rounds (default 5) in rotating order, and the table
gives medians, the median of the per-round ratios, each client's CPU (user + sys) per 1,000
files and per GB, and the server's CPU per file. The wire limit (_run_wire.py) is the fastest
request sequence the server accepts.
"""

from __future__ import annotations

import argparse
import asyncio
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

from oxen_async import Author, OxenClient  # noqa: E402
from oxen_async.testing.launch import LaunchedServer  # noqa: E402

# Issue 13's targets on 0.65.2: ours vs the official client, and ours as a share of the wire.
TARGETS = {
    "small": {"official": 1.3, "wire": 0.95},
    "random": {"official": 4.5, "wire": 0.95},
    "huge": {"official": 1.3, "wire": 0.95},
    "_all": {"cpu_third": 1.0},
}


def make_repo(server: LaunchedServer, name: str) -> str:
    async def create() -> None:
        async with OxenClient(server.url, token=server.token) as oxen:
            await oxen.repos.create("bench", name)
            await oxen.repo("bench", name).files.upload(
                "main", "", {"README.md": b"bench\n"}, author=Author("B", "b@x.org")
            )

    asyncio.run(create())
    return f"bench/{name}"


def command(
    kind: str,
    server: LaunchedServer,
    repo: str,
    dataset: Path,
    work: Path,
    official: str | None,
    wire_args: tuple[str, ...],
) -> list[str]:
    token = ["--token", server.token or ""]
    if kind == "ours":
        state = ["--state-dir", str(work / f"state-{time.time_ns()}")]
        return [
            sys.executable,
            str(HERE / "_run_ours.py"),
            server.url,
            repo,
            str(dataset),
            *token,
            *state,
        ]
    if kind == "wire":
        wire = [sys.executable, str(HERE / "_run_wire.py"), server.url, repo, str(dataset)]
        return [*wire, *token, *wire_args]
    if kind == "official" and official:
        return [official, str(HERE / "_run_official.py"), server.url, repo, str(dataset), *token]
    raise ValueError(kind)


def contender(
    kind: str,
    server: LaunchedServer,
    dataset: Path,
    work: Path,
    official: str | None,
    wire_args: tuple[str, ...] = (),
) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        repo = make_repo(server, f"{kind}-{dataset.name}-{time.time_ns() % 10**10}")
        cmd = command(kind, server, repo, dataset, work, official, wire_args)
        return _race.run_process(cmd, server)

    return run


def rss_scaling(
    server: LaunchedServer, base: Path, work: Path, counts: list[int]
) -> dict[str, Any]:
    """Peak RSS of our uploader for folders of growing size (512 B-1 KiB files)."""
    out: dict[str, Any] = {}
    for count in counts:
        ds = _datasets.small_text(base, count, 512, 1024)
        out[str(count)] = contender("ours", server, ds, work, None)()
    return out


def rss_lines(title: str, rss: dict[str, Any]) -> list[str]:
    lines = ["", f"## {title}", ""]
    figures = [(int(c), r) for c, r in rss.items() if "peak_rss_mb" in r]
    for count, r in figures:
        lines.append(
            f"- {count} files: {r['peak_rss_mb']:.0f} MB peak RSS, {r['elapsed_s']:.1f} s"
            + (f", lag p99 {r['lag_p99_ms']} ms" if r.get("lag_p99_ms") is not None else "")
        )
    pairs = [(figures[0], figures[-1])] if len(figures) >= 2 else []
    if len(figures) >= 3:  # also from the next size up: past a one-off step, is it flat?
        pairs.append((figures[-2], figures[-1]))
    for (c0, a), (c1, b) in pairs:
        lines.append(f"- peak RSS ratio {c1}/{c0} files: {b['peak_rss_mb'] / a['peak_rss_mb']:.2f}")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _race.add_common_args(p)
    p.add_argument("--rss", action="store_true", help="also peak RSS of ours for 10k vs 100k files")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="oxen-bench-") as tmp:
        work = Path(tmp)
        _race.settle_smoke(args, work)
        kinds = _race.contenders_of(args)
        base = Path(args.data_cache)
        datasets = _race.dataset_paths(
            [n for n in args.datasets.split(",") if n], base, args.quick, args.smoke
        )
        rows = []
        with _race.start_server(args.target, work, args.server_bin, args.server_version) as server:
            where = _race.server_name(server)
            for name, path in datasets.items():
                _datasets.warm(path)  # no contender pays for a cold page cache
                runs = _race.run_rounds(
                    {
                        k: contender(
                            k, server, path, work, args.official_python, tuple(args.wire_args)
                        )
                        for k in kinds
                    },
                    args.repeat,
                )
                files = _datasets.files_of(path)
                rows.append(
                    _race.summarize(name, len(files), sum(f.stat().st_size for f in files), runs)
                )
            counts = [200, 2000] if args.smoke else [10_000, 100_000]
            rss = rss_scaling(server, base, work, counts) if args.rss or args.smoke else None
        lines = _race.table(f"Upload race against the {where} server", rows)
        lines += _race.target_lines(rows, TARGETS)
        if rss:
            lines += rss_lines("Peak RSS of our uploader by folder size", rss)
        stem = f"upload-{where}"
        _race.write_outputs(args.out, stem, lines, {"rows": rows, "rss": rss})
        _race.chart(args.out / f"{stem}.png", f"Upload into the {where} oxen server", rows)
        problems = _race.failed(rows) + [
            f"rss/{c}: {r['error']}" for c, r in (rss or {}).items() if "error" in r
        ]
    if problems and args.smoke:
        raise SystemExit("smoke run failed:\n" + "\n".join(problems))


if __name__ == "__main__":
    main()
