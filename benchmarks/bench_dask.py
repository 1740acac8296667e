"""Sharded ingestion (issue 12): files/s of ``oxen_async.dask.ingest`` with 1, 2 and 4 Dask
worker processes (a LocalCluster, one thread each) uploading one generated folder as ONE
commit, each run into a fresh repository. Also the server's CPU per run, from which the
scaling where workers and server do not share cores is derived: the server bounds the rate at
``files / server CPU s`` however many workers send.

    python benchmarks/bench_dask.py [--target bundled|real] [--workers 1,2,4]
        [--folders 100] [--files-per-folder 1000] [--size 2200]
    python benchmarks/bench_dask.py --smoke      # 10 x 20 files, 1 and 2 workers; what CI runs

The cluster starts before the clock (its start is not the upload's cost). Writes
results/dask-<server>.md/.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _datasets  # noqa: E402
import _race  # noqa: E402
from _wire_http import process_cpu  # noqa: E402
from bench_upload import make_repo  # noqa: E402

from oxen_async import Author  # noqa: E402
from oxen_async.dask import ingest  # noqa: E402
from oxen_async.testing.launch import REAL_VERSION  # noqa: E402

AUTHOR = Author("Bench", "bench@example.com")


def one_run(server: Any, dataset: Path, workers: int, work: Path) -> dict[str, Any]:
    from distributed import Client, LocalCluster

    repo = make_repo(server, f"dask-{workers}-{time.time_ns() % 10**10}")
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as client,
    ):
        cpu_before = process_cpu(server.process.pid)
        started = time.perf_counter()
        report = ingest(
            client,
            dataset,
            repo,
            host=server.url,
            token=server.token,
            author=AUTHOR,
            state_dir=work / f"state-{workers}",
        )
        elapsed = time.perf_counter() - started
        cpu = process_cpu(server.process.pid) - cpu_before
    return {
        "workers": workers,
        "status": report.status,
        "error": report.error,
        "files": report.files_uploaded,
        "elapsed_s": elapsed,
        "server_cpu_s": cpu,
    }


def lines_for(where: str, files: int, runs: list[dict[str, Any]]) -> list[str]:
    header = ["workers", "status", "files", "s", "files/s", "server CPU s", "server-bound files/s"]
    lines = [
        f"# Sharded ingestion into the {where} server: {files:,} files, one commit per run",
        "",
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
    ]
    for r in runs:
        bound = files / r["server_cpu_s"] if r["server_cpu_s"] else 0
        rate = files / r["elapsed_s"]
        cells = [r["workers"], r["status"], r["files"], f"{r['elapsed_s']:.1f}", f"{rate:.0f}",
                 f"{r['server_cpu_s']:.1f}", f"{bound:.0f}"]  # fmt: skip
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--target", choices=["bundled", "real"], default="bundled")
    p.add_argument("--server-bin", default=os.environ.get("OXEN_SERVER_BIN"), help="real binary")
    p.add_argument("--server-version", default=REAL_VERSION)
    p.add_argument("--workers", default="1,2,4", help="worker process counts, comma-separated")
    p.add_argument("--folders", type=int, default=100)
    p.add_argument("--files-per-folder", type=int, default=1000)
    p.add_argument("--size", type=int, default=2200, help="bytes per file")
    p.add_argument("--data-cache", default=str(Path(tempfile.gettempdir()) / "oxen-bench-data"))
    p.add_argument("--out", type=Path, default=_race.RESULTS)
    p.add_argument("--smoke", action="store_true", help="10 x 20 files, bundled, temp results")
    args = p.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="oxen-bench-") as tmp:
        work = Path(tmp)
        if args.smoke:
            args.target, args.folders, args.files_per_folder = "bundled", 10, 20
            args.data_cache, args.out, counts = str(work / "data"), work / "results", [1, 2]
        dataset = _datasets.scale_tree(
            Path(args.data_cache), args.folders, args.files_per_folder, args.size
        )
        files = args.folders * args.files_per_folder
        with _race.start_server(args.target, work, args.server_bin, args.server_version) as server:
            where = _race.server_name(server)
            runs = [one_run(server, dataset, n, work) for n in counts]
        _race.write_outputs(
            args.out, f"dask-{where}", lines_for(where, files, runs), {"runs": runs}
        )
    problems = [f"{r['workers']} workers: {r['error'] or r['status']}, {r['files']} files"
                for r in runs if r["status"] != "committed" or r["files"] != files]  # fmt: skip
    if problems:
        raise SystemExit("dask benchmark failed:\n" + "\n".join(problems))


if __name__ == "__main__":
    main()
