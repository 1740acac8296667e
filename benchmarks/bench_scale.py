"""The at-scale upload (issue 11): a generated folder of 1,000,000 small files (1,000 folders of
1,000, 2,200 bytes each) uploaded by oxen_async as one commit, then uploaded again unchanged
(nothing to send, no commit). For both runs: time, files/s, peak RSS, event-loop lag p99/max,
and the server's CPU.

    python benchmarks/bench_scale.py [--target bundled|real] [--folders 1000]
        [--files-per-folder 1000] [--size 2200]
    python benchmarks/bench_scale.py --smoke       # 20 x 20 files; what CI runs

The folder is generated once into the data cache (not the repository) and reused. Writes
results/scale-<server>.md/.json.
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
from bench_upload import make_repo  # noqa: E402

from oxen_async.testing.launch import REAL_VERSION  # noqa: E402


def lines_for(target: str, files: int, size: int, runs: dict[str, dict[str, Any]]) -> list[str]:
    header = ["run", "status", "files sent", "s", "files/s", "peak RSS MB", "lag p99 ms",
              "lag max ms", "client CPU s", "server CPU s"]  # fmt: skip
    lines = [
        f"# At-scale upload into the {target} server: {files:,} files of {size} bytes",
        "",
        "| " + " | ".join(header) + " |",
        "|" + " --- |" * len(header),
    ]
    for name, r in runs.items():
        if "error" in r:
            error = " ".join(r["error"].split())[-120:].replace("|", "/")
            lines.append(f"| {name} | error: {error} |" + " |" * (len(header) - 2))
            continue
        cells = [
            name,
            r.get("status", ""),
            r.get("files", ""),
            f"{r['elapsed_s']:.1f}",
            f"{files / r['elapsed_s']:.0f}",
            f"{r.get('peak_rss_mb', 0):.0f}",
            r.get("lag_p99_ms", ""),
            r.get("lag_max_ms", ""),
            f"{r.get('cpu_s', 0):.2f}",
            f"{r.get('server_cpu_s', 0):.2f}",
        ]
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return lines


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--target", choices=["bundled", "real"], default="bundled")
    p.add_argument("--server-bin", default=os.environ.get("OXEN_SERVER_BIN"), help="real binary")
    p.add_argument("--server-version", default=REAL_VERSION)
    p.add_argument("--folders", type=int, default=1000)
    p.add_argument("--files-per-folder", type=int, default=1000)
    p.add_argument("--size", type=int, default=2200, help="bytes per file")
    p.add_argument("--data-cache", default=str(Path(tempfile.gettempdir()) / "oxen-bench-data"))
    p.add_argument("--out", type=Path, default=_race.RESULTS)
    p.add_argument("--smoke", action="store_true", help="20 x 20 files, bundled, temp results")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="oxen-bench-") as tmp:
        work = Path(tmp)
        if args.smoke:
            args.target, args.folders, args.files_per_folder = "bundled", 20, 20
            args.data_cache, args.out = str(work / "data"), work / "results"
        started = time.perf_counter()
        dataset = _datasets.scale_tree(
            Path(args.data_cache), args.folders, args.files_per_folder, args.size
        )
        print(f"(dataset ready in {time.perf_counter() - started:.0f} s: {dataset})")
        files = args.folders * args.files_per_folder
        runs: dict[str, dict[str, Any]] = {}
        with _race.start_server(args.target, work, args.server_bin, args.server_version) as server:
            where = _race.server_name(server)
            repo = make_repo(server, f"scale-{time.time_ns() % 10**10}")
            cmd = [sys.executable, str(HERE / "_run_ours.py"), server.url, repo, str(dataset)]
            # One state folder for both runs, as a user rerunning the same command has.
            cmd += [f"--token={server.token or ''}", "--state-dir", str(work / "state")]
            for name in ("first upload", "rerun, unchanged"):
                runs[name] = _race.run_process(cmd, server)
        lines = lines_for(where, files, args.size, runs)
        _race.write_outputs(args.out, f"scale-{where}", lines, {"runs": runs})
    problems = [f"{n}: {r['error'][-300:]}" for n, r in runs.items() if "error" in r]
    first, again = runs.get("first upload", {}), runs.get("rerun, unchanged", {})
    if first.get("files") != files:
        problems.append(f"first upload sent {first.get('files')} files, expected {files}")
    if again.get("files"):
        problems.append(f"the unchanged rerun sent {again.get('files')} files")
    if problems and args.smoke:
        raise SystemExit("smoke run failed:\n" + "\n".join(problems))


if __name__ == "__main__":
    main()
