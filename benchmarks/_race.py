"""What the races share: starting the server, running each contender in its own process with
its own and the server's CPU measured, paired rounds in rotating order, medians and paired
ratios, the markdown table, the chart, and the targets printed against the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _wire_http import process_cpu

from oxen_async.testing.launch import REAL_VERSION, LaunchedServer, start_bundled, start_real

MiB = 1024 * 1024
GB = 1e9
TIMEOUT = 3600  # seconds for one contender's run; a hung one becomes an error, not a hung race
RESULTS = Path(__file__).resolve().parent / "results"
LABELS = {"ours": "oxen_async", "wire": "wire limit", "official": "official client"}


def start_server(
    target: str, work: Path, binary: str | None, version: str | None = None
) -> LaunchedServer:
    """The bundled server (with a token), or a real oxen-server found the way the test fixture
    finds it ($OXEN_SERVER_BIN, PATH, its install prefix, the prebuilt): 0.65 without auth,
    0.53.4 with ``--auth`` and a user's token."""
    log = work / "server.log"
    if target == "bundled":
        return start_bundled(work / "server", token="bench-token", log=log)
    return start_real(work / "server", version=version or REAL_VERSION, binary=binary, log=log)


def server_name(server: LaunchedServer) -> str:
    """``bundled``, or ``real-<version>``: the stem of the result files and the title."""
    version = getattr(server, "version", None)
    return server.kind if server.kind == "bundled" or not version else f"real-{version}"


def await_quiet(pid: int, *, window: float = 0.5, busy: float = 0.05, limit: float = 30) -> None:
    """Wait (at most ``limit`` s) until the server has used under ``busy`` of a core for a
    ``window``: no contender starts while the server still works off the one before (a body
    it was still writing, its store settling after the seed)."""
    give_up = time.monotonic() + limit
    last = process_cpu(pid)
    while time.monotonic() < give_up:
        time.sleep(window)
        now = process_cpu(pid)
        if now - last < busy * window:
            return
        last = now


def run_process(
    cmd: list[str], server: LaunchedServer, check: Callable[[], str | None] | None = None
) -> dict[str, Any]:
    """One contender run: its JSON line, plus the wall time and the server's CPU meanwhile.
    ``check`` (run after, untimed) returns what is wrong with the result, if anything."""
    # No contender starts with dirty pages left by the one before: the kernel flushing them
    # during the next run was the largest source of run-to-run noise here.
    os.sync()
    await_quiet(server.process.pid)
    server_cpu0 = process_cpu(server.process.pid)
    started = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"no answer after {TIMEOUT} s: {' '.join(cmd[:3])}", "wall_s": TIMEOUT}
    wall = time.perf_counter() - started
    server_cpu = process_cpu(server.process.pid) - server_cpu0
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout)[-2000:], "wall_s": wall}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    # A contender that runs untimed passes too (the wire limit) measures its timed pass itself.
    result.setdefault("server_cpu_s", server_cpu)
    problem = check() if check else None
    if problem:
        return {"error": problem, "wall_s": wall}
    return result


def run_rounds(
    contenders: dict[str, Callable[[], dict[str, Any]]], repeat: int, *, warm_up: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """``repeat`` rounds, each running every contender once, the order rotating from round to
    round, so a contender is never always first (cold caches) or always after the heaviest.

    ``warm_up``: first one untimed run of every contender, so each meets a server that has
    served its own requests once. A contender whose warm-up fails runs no rounds: its error
    stands for each of them."""
    kinds = list(contenders)
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    broken: set[str] = set()
    for kind in kinds if warm_up else []:
        result = contenders[kind]()
        if "error" in result:
            broken.add(kind)
            runs[kind] = [{**result, "error": f"warm-up: {result['error']}"}] * repeat
    for i in range(repeat):
        for kind in kinds[i % len(kinds) :] + kinds[: i % len(kinds)]:
            if kind not in broken:
                runs[kind].append(contenders[kind]())
    return runs


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = sorted((r for r in runs if "elapsed_s" in r), key=lambda r: r["elapsed_s"])
    if not ok:
        return runs[0]
    median = dict(ok[(len(ok) - 1) // 2])
    median["runs_s"] = [round(r["elapsed_s"], 3) for r in runs if "elapsed_s" in r]
    median["errors"] = sum(1 for r in runs if "elapsed_s" not in r)
    return median


def paired_ratios(ours: list[dict[str, Any]], other: list[dict[str, Any]]) -> list[float]:
    """Per round, the other's time over ours (above 1: ours was faster). Rounds are adjacent in
    time, so the machine's noise (the same for both in one round) cancels better than in
    medians alone."""
    return sorted(
        o["elapsed_s"] / u["elapsed_s"]
        for u, o in zip(ours, other, strict=True)
        if "elapsed_s" in u and "elapsed_s" in o
    )


def summarize(
    name: str, files: int, total: int, all_runs: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    row: dict[str, Any] = {"dataset": name, "files": files, "mb": total / MiB}
    for kind, rs in all_runs.items():
        r = median_run(rs)
        if "error" in r:
            row[kind] = {"error": r["error"]}
            continue
        t = r["elapsed_s"]
        figures = {"files_per_s": files / t, "mb_per_s": total / MiB / t}
        if "cpu_s" in r:  # user + sys of the contender's own process, in its timed section
            figures["cpu_s_per_1k_files"] = r["cpu_s"] / files * 1000
            figures["cpu_s_per_gb"] = r["cpu_s"] / (total / GB)
        if "server_cpu_s" in r:
            figures["server_cpu_ms_per_file"] = r["server_cpu_s"] / files * 1000
        row[kind] = {**r, **figures}
    for other in ("wire", "official"):
        if other in all_runs and "ours" in all_runs:
            ratios = paired_ratios(all_runs["ours"], all_runs[other])
            if ratios:
                row[f"ours_vs_{other}"] = ratios[(len(ratios) - 1) // 2]
                row[f"ours_vs_{other}_range"] = [ratios[0], ratios[-1]]
    return row


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _f(value: Any, spec: str) -> str:
    return format(value, spec) if isinstance(value, int | float) else ""


def _routes(wire: dict[str, Any] | None) -> str:
    """What a wire-limit run reports about the requests it chose (see _run_wire*.py)."""
    if not wire:
        return ""
    said = [
        f"{k.replace('_route', '')} files by {wire[k]}"
        for k in ("small_route", "large_route")
        if wire.get(k)
    ]
    timed = wire.get("small_routes_s") or {}
    if len(timed) > 1:
        said.append("timed " + ", ".join(f"{r} {s:.2f} s" for r, s in timed.items()))
    return ", ".join(said)


HEADER = [
    "dataset",
    "files",
    "MB",
    "contender",
    "median s",
    "runs s",
    "files/s",
    "MB/s",
    "ours/it (paired median, range)",
    "client CPU s/1k files",
    "client CPU s/GB",
    "server CPU ms/file",
    "lag p99 ms",
    "peak RSS MB",
]


def table(title: str, rows: list[dict[str, Any]], note: str = "") -> list[str]:
    lines = [f"# {title}", ""] + ([note, ""] if note else [])
    lines += [_row(HEADER), _row(["---"] * len(HEADER))]
    for row in rows:
        for kind in ("ours", "wire", "official"):
            r = row.get(kind)
            if r is None:
                continue
            head = [row["dataset"], row["files"], f"{row['mb']:.0f}", kind]
            if "error" in r:
                error = " ".join(r["error"].split())[-80:].replace("|", "/")
                lines.append(_row([*head, f"error: {error}", *[""] * (len(HEADER) - 5)]))
                continue
            ratio = ""
            if kind != "ours" and f"ours_vs_{kind}" in row:
                lo, hi = row[f"ours_vs_{kind}_range"]
                ratio = f"{row[f'ours_vs_{kind}']:.2f}x ({lo:.2f}-{hi:.2f})"
            cells = [
                f"{r['elapsed_s']:.2f}",
                " ".join(f"{x:.2f}" for x in r.get("runs_s", [])),
                f"{r['files_per_s']:.0f}",
                f"{r['mb_per_s']:.1f}",
                ratio,
                _f(r.get("cpu_s_per_1k_files"), ".3f"),
                _f(r.get("cpu_s_per_gb"), ".2f"),
                _f(r.get("server_cpu_ms_per_file"), ".3f"),
                _f(r.get("lag_p99_ms"), ".1f"),
                _f(r.get("peak_rss_mb"), ".0f"),
            ]
            lines.append(_row([*head, *cells]))
    routes = [
        f"{row['dataset']}: {_routes(row['wire'])}" for row in rows if _routes(row.get("wire"))
    ]
    if routes:
        lines += ["", "Wire-limit routes taken: " + "; ".join(routes) + "."]
    return lines


def target_lines(rows: list[dict[str, Any]], targets: dict[str, dict[str, float]]) -> list[str]:
    """``targets[dataset] = {"official": x, "wire": y}``: ours must be >= x times as fast as the
    official client and >= y of the wire limit (paired medians)."""
    lines = ["", "## Targets", ""]
    for row in rows:
        for other, need in targets.get(row["dataset"], {}).items():
            got = row.get(f"ours_vs_{other}")
            verdict = "n/a" if got is None else ("met" if got >= need else "MISSED")
            shown = "-" if got is None else f"{got:.2f}x"
            lines.append(
                f"- {row['dataset']}: ours vs {other} {shown}, target >= {need}x: {verdict}"
            )
        cpu_ours = row.get("ours", {}).get("cpu_s_per_1k_files")
        cpu_official = row.get("official", {}).get("cpu_s_per_1k_files")
        if "cpu_third" in targets.get("_all", {}) and cpu_ours and cpu_official:
            verdict = "met" if cpu_ours <= cpu_official / 3 else "MISSED"
            lines.append(
                f"- {row['dataset']}: client CPU per file ours/official "
                f"{cpu_ours / cpu_official:.2f}, target <= 0.33: {verdict}"
            )
    return lines


def write_outputs(out: Path, stem: str, lines: list[str], data: dict[str, Any]) -> None:
    """``stem``.md, .json and .png (when matplotlib is there) in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(data, indent=2))
    (out / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"(written: {out / stem}.md/.json)")


def chart(path: Path, title: str, rows: list[dict[str, Any]]) -> None:
    try:
        import matplotlib
    except ImportError:
        print("(matplotlib not installed: no chart)")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [k for k in LABELS if any(k in r and "mb_per_s" in r[k] for r in rows)]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / max(1, len(kinds))
    for i, kind in enumerate(kinds):
        values = [r.get(kind, {}).get("mb_per_s", 0) for r in rows]
        xs = [j + i * width for j in range(len(rows))]
        ax.bar(xs, values, width, label=LABELS[kind])
        for x, v, r in zip(xs, values, rows, strict=True):
            fps = r.get(kind, {}).get("files_per_s", 0)
            ax.annotate(f"{fps:.0f} f/s", (x, v), ha="center", va="bottom", fontsize=7)
    ax.set_xticks([j + width * (len(kinds) - 1) / 2 for j in range(len(rows))])
    ax.set_xticklabels([f"{r['dataset']}\n{r['files']} files, {r['mb']:.0f} MB" for r in rows])
    ax.set_ylabel("MB/s")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def add_common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", choices=["bundled", "real"], default="bundled")
    p.add_argument(
        "--server-bin",
        default=os.environ.get("OXEN_SERVER_BIN"),
        help="the real oxen-server binary (default: $OXEN_SERVER_BIN, else the fixture's search)",
    )
    p.add_argument(
        "--server-version",
        default=REAL_VERSION,
        help=f"which real oxen-server to race (default {REAL_VERSION}; 0.53.4 where installed)",
    )
    p.add_argument("--datasets", default="small,random,huge")
    p.add_argument("--contenders", default="ours,wire,official")
    p.add_argument("--official-python", default=os.environ.get("OXEN_OFFICIAL_PYTHON"))
    p.add_argument(
        "--data-cache",
        default=os.environ.get(
            "OXEN_BENCH_DATA", str(Path(tempfile.gettempdir()) / "oxen-bench-data")
        ),
    )
    p.add_argument("--quick", action="store_true", help="smaller datasets (a tenth)")
    p.add_argument(
        "--smoke",
        action="store_true",
        help="seconds: tiny data, bundled server, ours and the wire limit, one round, results "
        "in a temporary folder; exits 1 if any contender fails (what CI runs)",
    )
    p.add_argument("--repeat", type=int, default=5, help="rounds per dataset")
    p.add_argument(
        "--wire-args",
        type=shlex.split,
        default=[],
        help="extra options for the wire-limit runner, to look for a faster sequence, e.g. "
        '"--concurrency 16 --batch-files 2000"',
    )
    p.add_argument("--out", type=Path, default=RESULTS, help="where the table, JSON and PNG go")


def settle_smoke(args: argparse.Namespace, tmp: Path) -> None:
    """--smoke overrides: nothing it does can be mistaken for a figure or overwrite one."""
    if args.smoke:
        args.target, args.repeat, args.quick = "bundled", 1, True
        args.contenders = ",".join(c for c in args.contenders.split(",") if c != "official")
        args.data_cache, args.out = str(tmp / "data"), tmp / "results"


def contenders_of(args: argparse.Namespace) -> list[str]:
    chosen = [c for c in args.contenders.split(",") if c]
    if "official" in chosen and not args.official_python:
        print("(no --official-python: the official client is left out)")
        chosen.remove("official")
    return chosen


def dataset_paths(names: list[str], base: Path, quick: bool, smoke: bool) -> dict[str, Path]:
    """The race's three datasets: 20,000 small text files, 2,000 x 200 KiB random, 3 x 110 MiB
    random (--quick: a tenth of the files, one 20 MiB file; --smoke: a few of each)."""
    import _datasets

    base.mkdir(parents=True, exist_ok=True)
    small, random_, huge, huge_size = (
        (40, 10, 1, 11 * MiB)
        if smoke
        else (2000, 200, 1, 20 * MiB)
        if quick
        else (20_000, 2000, 3, 110 * MiB)
    )
    makers = {
        "small": lambda: _datasets.small_text(base, small),
        "random": lambda: _datasets.incompressible(base, random_),
        "huge": lambda: _datasets.huge(base, huge, huge_size),
    }
    unknown = [n for n in names if n not in makers]
    if unknown:
        raise SystemExit(f"unknown dataset {unknown[0]!r}; choose from small, random, huge")
    return {n: makers[n]() for n in names}


def failed(rows: list[dict[str, Any]]) -> list[str]:
    return [
        f"{row['dataset']}/{kind}: {row[kind]['error'][-300:]}"
        for row in rows
        for kind in LABELS
        if "error" in row.get(kind, {})
    ]
