"""Data-loader race: samples/s through a torch DataLoader (4 workers) over a folder of small
files, our ``OxenIterableDataset`` vs the official client's ``OxenFS`` read the way its docs
show (``fs.open(path).read()`` per sample), side by side in one run.

    python benchmarks/bench_loader.py [--target bundled|real] [--official-python PATH]
        [--files N] [--repeat N] [--workers N]
    python benchmarks/bench_loader.py --smoke    # seconds; tiny data, ours only

The folder (``small`` dataset: 20,000 text files of 2-8 KiB) is uploaded once by the upload
wire limit. Each contender runs in its own process, lists the folder, then loads every sample
through the DataLoader; only the loading is timed (the listing time is reported beside it), and
a run counts only if every file arrived once with the right bytes. The official client needs
torch next to it: ``--official-python`` may name a Python that has both, or one with just
oxenai, whose site-packages are then put on this Python's path (same CPython version).
Writes results/loader-<server>.md/.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _datasets  # noqa: E402
import _race  # noqa: E402
from bench_download import REMOTE_DIR, seed  # noqa: E402

from oxen_async.testing.launch import LaunchedServer  # noqa: E402

TARGET = 5.0  # issue 10: ours >= 5x the official OxenFS through a 4-worker DataLoader


def official_command(python: str) -> list[str]:
    """How to run the official loader: its Python if it has torch, else ours with its oxenai."""
    if subprocess.run([python, "-c", "import torch"], capture_output=True).returncode == 0:
        return [python]
    where = subprocess.run(
        [python, "-c", "import oxen, os; print(os.path.dirname(os.path.dirname(oxen.__file__)))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return ["env", f"PYTHONPATH={where}", sys.executable]


def contender(
    kind: str, server: LaunchedServer, repo: str, dataset: Path, official: str | None
) -> Any:
    source = [server.url, repo, "main", REMOTE_DIR, str(dataset), "--token", server.token or ""]
    if kind == "ours":
        cmd = [sys.executable, str(HERE / "_run_ours_loader.py"), *source]
    elif kind == "official" and official:
        cmd = [*official_command(official), str(HERE / "_run_official_loader.py"), *source]
    else:
        raise ValueError(kind)
    return lambda: _race.run_process(cmd, server)


def lines_for(where: str, files: int, runs: dict[str, list[dict[str, Any]]]) -> list[str]:
    out = [f"# Data-loader race against the {where} server", ""]
    out += [
        f"{files} small files, DataLoader with {os.environ['BENCH_LOADER_WORKERS']} workers.",
        "",
    ]
    out += ["| contender | samples/s (median) | load s (runs) | list s | peak RSS MB |"]
    out += ["| --- | --- | --- | --- | --- |"]
    medians: dict[str, float] = {}
    for kind, rs in runs.items():
        ok = [r for r in rs if "elapsed_s" in r and "error" not in r]
        if not ok:
            error = " ".join(rs[0].get("error", "?").split())[-100:].replace("|", "/")
            out.append(f"| {_race.LABELS[kind]} | error: {error} | | | |")
            continue
        best = _race.median_run(ok)
        medians[kind] = files / best["elapsed_s"]
        times = " ".join(f"{r['elapsed_s']:.2f}" for r in ok)
        out.append(
            f"| {_race.LABELS[kind]} | {medians[kind]:.0f} | {times} | "
            f"{best['list_s']:.2f} | {best['peak_rss_mb']:.0f} |"
        )
    if "ours" in medians and "official" in medians:
        ratio = medians["ours"] / medians["official"]
        verdict = "met" if ratio >= TARGET else "NOT met"
        out += ["", f"Ours / official: {ratio:.2f}x (target >= {TARGET:.0f}x: {verdict})."]
    return out


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    _race.add_common_args(p)
    p.add_argument("--files", type=int, default=20_000, help="files in the folder")
    p.add_argument("--workers", type=int, default=4, help="DataLoader workers")
    args = p.parse_args()
    os.environ["BENCH_LOADER_WORKERS"] = str(args.workers)
    try:
        import torch  # noqa: F401
    except ImportError:
        # bench-smoke installs the bench extra, which has no torch (a multi-GB install).
        print("bench_loader: torch is not installed; skipped (pip install 'oxen-async[torch]')")
        return
    with tempfile.TemporaryDirectory(prefix="oxen-bench-") as tmp:
        work = Path(tmp)
        _race.settle_smoke(args, work)
        files = 40 if args.smoke else args.files
        kinds = [k for k in _race.contenders_of(args) if k in ("ours", "official")]
        base = Path(args.data_cache)
        base.mkdir(parents=True, exist_ok=True)
        dataset = _datasets.small_text(base, files)
        with _race.start_server(args.target, work, args.server_bin, args.server_version) as server:
            where = _race.server_name(server)
            repo = seed(server, dataset)
            runs = _race.run_rounds(
                {k: contender(k, server, repo, dataset, args.official_python) for k in kinds},
                args.repeat,
            )
        lines = lines_for(where, files, runs)
        _race.write_outputs(args.out, f"loader-{where}", lines, {"runs": runs, "files": files})
        problems = [
            f"{k}: {r['error'][-300:]}" for k, rs in runs.items() for r in rs if "error" in r
        ]
    if problems and args.smoke:
        raise SystemExit("smoke run failed:\n" + "\n".join(problems))


if __name__ == "__main__":
    main()
