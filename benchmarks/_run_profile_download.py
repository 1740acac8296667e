"""Where a folder download's CPU goes: seed a dataset on a server (bundled or real), download
it in this process under cProfile, print CPU (user+sys) per 1,000 files and per GB and the top
functions by own time.

    python benchmarks/_run_profile_download.py [--target bundled|real] [--server-bin PATH]
        [--datasets small,random] [--quick] [--top 25] [--no-profile] [--batch-files N]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _datasets  # noqa: E402
import _race  # noqa: E402
from bench_download import REMOTE_DIR, seed  # noqa: E402

from oxen_async import OxenClient  # noqa: E402


def cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


async def download(url: str, token: str | None, repo: str, local: Path) -> object:
    async with OxenClient(url, token=token) as oxen:
        return await oxen.repo(repo).download_folder("main", REMOTE_DIR, local)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    _race.add_common_args(p)
    p.set_defaults(datasets="small,random")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--no-profile", action="store_true")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--batch-files", type=int, default=None, help="ids per QUERY (tuning)")
    args = p.parse_args()
    if args.batch_files:
        from oxen_async.download import engine

        engine.BATCH_FILES = args.batch_files
    base = Path(args.data_cache)
    names = [n for n in args.datasets.split(",") if n]
    datasets = _race.dataset_paths(names, base, args.quick, False)
    with tempfile.TemporaryDirectory(prefix="oxen-prof-") as tmp:
        work = Path(tmp)
        with _race.start_server(args.target, work, args.server_bin, args.server_version) as srv:
            for name, path in datasets.items():
                files = _datasets.files_of(path)
                total = sum(f.stat().st_size for f in files)
                repo = seed(srv, path)
                for r in range(args.rounds):
                    local = work / f"dl-{name}-{r}"
                    prof = None if args.no_profile else cProfile.Profile()
                    c0, t0 = cpu(), time.perf_counter()
                    if prof:
                        prof.enable()
                    report = asyncio.run(download(srv.url, srv.token, repo, local))
                    if prof:
                        prof.disable()
                    c1, t = cpu(), time.perf_counter() - t0
                    user, system = c1[0] - c0[0], c1[1] - c0[1]
                    c = user + system
                    assert getattr(report, "ok", False), report
                    print(
                        f"{name}: {len(files)} files {total / 1e6:.0f} MB  wall {t:.2f} s  "
                        f"cpu {c:.2f} s (user {user:.2f} sys {system:.2f}) = "
                        f"{1000 * c / len(files):.3f} s/1k files, "
                        f"{c / (total / 1e9):.2f} s/GB"
                    )
                    if prof:
                        pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)
                    shutil.rmtree(local)


if __name__ == "__main__":
    main()
