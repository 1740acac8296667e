"""Upload benchmarks, side by side in one run: our uploader, the wire limit, and (when its
Python is given) the official oxen client; against the bundled server or a real oxen-server.

    python benchmarks/bench_upload.py [--target bundled|real] [--datasets small,random,huge]
        [--official-python PATH] [--rss] [--quick] [--repeat N]

Writes benchmarks/results/upload-<target>.md/.json and a PNG chart. Each contender runs in its
own process (so peak RSS is its own) against a fresh repository on the same server; each
dataset runs N rounds (default 5) in rotating order, and the table gives medians and the
median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _datasets  # noqa: E402

from oxen_async import Author, OxenClient  # noqa: E402
from oxen_async.testing.launch import LaunchedServer, start_bundled, start_real  # noqa: E402

RESULTS = HERE / "results"
MiB = 1024 * 1024


def make_repo(server: LaunchedServer, name: str) -> str:
    async def create() -> None:
        async with OxenClient(server.url, token=server.token) as oxen:
            await oxen.repos.create("bench", name)
            repo = oxen.repo("bench", name)
            await repo.files.upload(
                "main", "", {"README.md": b"bench\n"}, author=Author("B", "b@x.org")
            )

    asyncio.run(create())
    return f"bench/{name}"


def run_contender(
    kind: str, server: LaunchedServer, dataset: Path, work: Path, official_python: str | None
) -> dict[str, Any]:
    repo = make_repo(server, f"{kind}-{dataset.name}-{int(time.time() * 1000) % 10**8}")
    token = server.token or ""
    if kind == "ours":
        cmd = [
            sys.executable,
            str(HERE / "_run_ours.py"),
            server.url,
            repo,
            str(dataset),
            "--token",
            token,
            "--state-dir",
            str(work / f"state-{time.time_ns()}"),
        ]
    elif kind == "wire":
        cmd = [
            sys.executable,
            str(HERE / "_run_wire.py"),
            server.url,
            repo,
            str(dataset),
            "--token",
            token,
        ]
    elif kind == "official":
        assert official_python
        cmd = [
            official_python,
            str(HERE / "_run_official.py"),
            server.url,
            repo,
            str(dataset),
            "--token",
            token,
        ]
    else:
        raise ValueError(kind)
    # Every contender starts with no dirty pages left by the one before: the server writes
    # hundreds of MB per run, and the kernel flushing them during the next run was the largest
    # source of run-to-run noise here.
    os.sync()
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout)[-2000:], "wall_s": wall}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def dataset_paths(names: list[str], base: Path, quick: bool) -> dict[str, Path]:
    makers = {
        "small": lambda: _datasets.small_text(base, 2000 if quick else 20_000),
        "random": lambda: _datasets.incompressible(base, 200 if quick else 2000),
        "huge": lambda: _datasets.huge(base, 1 if quick else 3, (20 if quick else 110) * MiB),
    }
    return {n: makers[n]() for n in names}


def run_rounds(
    contenders: list[str],
    server: LaunchedServer,
    dataset: Path,
    work: Path,
    official_python: str | None,
    repeat: int,
) -> dict[str, list[dict[str, Any]]]:
    """``repeat`` rounds, each running every contender once, the order rotating from round to
    round, so a contender is never always first (cold caches) or always after the heaviest."""
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in contenders}
    _datasets.warm(dataset)
    for i in range(repeat):
        order = contenders[i % len(contenders) :] + contenders[: i % len(contenders)]
        for kind in order:
            runs[kind].append(run_contender(kind, server, dataset, work, official_python))
    return runs


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = sorted((r for r in runs if "elapsed_s" in r), key=lambda r: r["elapsed_s"])
    if not ok:
        return runs[0]
    median = dict(ok[(len(ok) - 1) // 2])
    median["runs_s"] = [round(r["elapsed_s"], 3) for r in runs if "elapsed_s" in r]
    median["errors"] = sum(1 for r in runs if "elapsed_s" not in r)
    return median


def _paired_ratio(ours: list[dict[str, Any]], other: list[dict[str, Any]]) -> list[float]:
    """Per round, how many times faster ours was: rounds are adjacent in time, so the noise
    of the machine (the same for both in one round) cancels better than in medians alone."""
    return sorted(
        o["elapsed_s"] / u["elapsed_s"]
        for u, o in zip(ours, other, strict=True)
        if "elapsed_s" in u and "elapsed_s" in o
    )


def summarize(name: str, path: Path, all_runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    runs = {kind: _median_run(rs) for kind, rs in all_runs.items()}
    files = _datasets.files_of(path)
    total = sum(p.stat().st_size for p in files)
    row: dict[str, Any] = {"dataset": name, "files": len(files), "mb": total / MiB}
    for kind, r in runs.items():
        if "error" in r:
            row[kind] = {"error": r["error"]}
            continue
        t = r["elapsed_s"]
        row[kind] = {**r, "files_per_s": len(files) / t, "mb_per_s": total / MiB / t}
    ours = row.get("ours", {})
    for other in ("wire", "official"):
        o = row.get(other, {})
        if "elapsed_s" in ours and "elapsed_s" in o:
            ratios = _paired_ratio(all_runs["ours"], all_runs[other])
            row[f"ours_vs_{other}"] = ratios[(len(ratios) - 1) // 2]
            row[f"ours_vs_{other}_range"] = [ratios[0], ratios[-1]]
    return row


def rss_scaling(server: LaunchedServer, base: Path, work: Path, repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for count in (10_000, 100_000):
        ds = _datasets.small_text(base, count, 512, 1024)
        out[str(count)] = _median_run(
            [run_contender("ours", server, ds, work, None) for _ in range(repeat)]
        )
    a, b = out["10000"], out["100000"]
    if "peak_rss_mb" in a and "peak_rss_mb" in b:
        out["ratio_100k_over_10k"] = b["peak_rss_mb"] / a["peak_rss_mb"]
    return out


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def write_outputs(target: str, rows: list[dict[str, Any]], rss: dict[str, Any] | None) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"upload-{target}"
    stem.with_suffix(".json").write_text(json.dumps({"rows": rows, "rss": rss}, indent=2))
    header = [
        "dataset",
        "files",
        "MB",
        "contender",
        "median s",
        "runs s",
        "files/s",
        "MB/s",
        "ours/it (paired median, range)",
        "lag p99 ms",
        "peak RSS MB",
    ]
    lines = [
        f"# Upload benchmark against the {target} server",
        "",
        _row(header),
        _row(["---"] * len(header)),
    ]
    for row in rows:
        for kind in ("ours", "wire", "official"):
            r = row.get(kind)
            if r is None:
                continue
            head = [row["dataset"], row["files"], f"{row['mb']:.0f}", kind]
            if "error" in r:
                lines.append(_row([*head, f"error: {r['error'][:60]!r}", "", "", "", "", "", ""]))
                continue
            ratio = ""
            if kind != "ours" and f"ours_vs_{kind}" in row:
                lo, hi = row[f"ours_vs_{kind}_range"]
                ratio = f"{row[f'ours_vs_{kind}']:.2f}x ({lo:.2f}-{hi:.2f})"
            lines.append(
                _row(
                    [
                        *head,
                        f"{r['elapsed_s']:.2f}",
                        " ".join(f"{x:.2f}" for x in r.get("runs_s", [])),
                        f"{r['files_per_s']:.0f}",
                        f"{r['mb_per_s']:.1f}",
                        ratio,
                        r.get("lag_p99_ms", ""),
                        f"{r.get('peak_rss_mb', 0):.0f}",
                    ]
                )
            )
    if rss:
        lines += ["", "## Peak RSS of our uploader by folder size", ""]
        for count in ("10000", "100000"):
            r = rss.get(count, {})
            lines.append(
                f"- {count} files: {r.get('peak_rss_mb', float('nan')):.0f} MB peak RSS, "
                f"{r.get('elapsed_s', float('nan')):.1f} s, lag p99 {r.get('lag_p99_ms')} ms"
            )
        if "ratio_100k_over_10k" in rss:
            lines.append(f"- ratio 100k/10k: {rss['ratio_100k_over_10k']:.2f}")
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    try:
        chart(stem.with_suffix(".png"), target, rows)
    except ImportError:
        print("(matplotlib not installed: no chart)")


def chart(path: Path, target: str, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = [
        k for k in ("ours", "wire", "official") if any(k in r and "mb_per_s" in r[k] for r in rows)
    ]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / max(1, len(kinds))
    for i, kind in enumerate(kinds):
        values = [r.get(kind, {}).get("mb_per_s", 0) for r in rows]
        xs = [j + i * width for j in range(len(rows))]
        bars = ax.bar(
            xs,
            values,
            width,
            label={"ours": "oxen_async", "wire": "wire limit", "official": "official client"}[kind],
        )
        for x, v, r in zip(xs, values, rows, strict=True):
            fps = r.get(kind, {}).get("files_per_s", 0)
            ax.annotate(f"{fps:.0f} f/s", (x, v), ha="center", va="bottom", fontsize=7)
        del bars
    ax.set_xticks([j + width * (len(kinds) - 1) / 2 for j in range(len(rows))])
    ax.set_xticklabels([f"{r['dataset']}\n{r['files']} files, {r['mb']:.0f} MB" for r in rows])
    ax.set_ylabel("MB/s")
    ax.set_title(f"Upload throughput into the {target} oxen server (2-core machine)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--target", choices=["bundled", "real"], default="bundled")
    p.add_argument("--datasets", default="small,random,huge")
    p.add_argument("--contenders", default="ours,wire,official")
    p.add_argument("--official-python", default=os.environ.get("OXEN_OFFICIAL_PYTHON"))
    p.add_argument(
        "--data-cache",
        default=os.environ.get(
            "OXEN_BENCH_DATA", str(Path(tempfile.gettempdir()) / "oxen-bench-data")
        ),
    )
    p.add_argument("--rss", action="store_true", help="also measure peak RSS for 10k vs 100k files")
    p.add_argument("--quick", action="store_true", help="small datasets, for a smoke run")
    p.add_argument(
        "--repeat", type=int, default=5, help="rounds per dataset; medians and paired ratios"
    )
    args = p.parse_args()
    base = Path(args.data_cache)
    base.mkdir(parents=True, exist_ok=True)
    contenders = [c for c in args.contenders.split(",") if c != "official" or args.official_python]
    datasets = dataset_paths([n for n in args.datasets.split(",") if n], base, args.quick)
    with tempfile.TemporaryDirectory(prefix="oxen-bench-") as tmp:
        work = Path(tmp)
        start = start_real if args.target == "real" else start_bundled
        server = (
            start(work / "server", log=work / "server.log")
            if args.target == "real"
            else start_bundled(work / "server", token="bench-token", log=work / "server.log")
        )
        with server:
            rows = []
            for name, path in datasets.items():
                runs = run_rounds(contenders, server, path, work, args.official_python, args.repeat)
                rows.append(summarize(name, path, runs))
            rss = rss_scaling(server, base, work, args.repeat) if args.rss else None
        del start
    write_outputs(args.target, rows, rss)


if __name__ == "__main__":
    main()
