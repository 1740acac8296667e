"""Where the at-scale upload's time goes: the bench_scale.py case (a first upload, then an
unchanged rerun) at a size that keeps runs short, under a profiler, with counts that do not
depend on how busy the machine is.

    python benchmarks/profile_scale.py [--folders 100] [--files-per-folder 1000]
        [--profiler pyinstrument|cprofile|none] [--only rerun]

Per run it prints: wall and CPU time, requests by route (client side), SQLite statements,
response bytes decoded, files stat'ed by the scan, files hashed, loop-lag p99/max, and the
profile (pyinstrument's text tree, or cProfile's top functions). The server runs in its own
process, so its CPU is not in the profile. Internals are patched only to count, never to
change behaviour.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import logging
import os
import pstats
import re
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _datasets  # noqa: E402
import _race  # noqa: E402
from bench_upload import make_repo  # noqa: E402

from oxen_async import Author, OxenClient  # noqa: E402
from oxen_async import hashing as hashing_mod  # noqa: E402
from oxen_async.http import decoding, session  # noqa: E402
from oxen_async.upload import planner as planner_mod  # noqa: E402
from oxen_async.upload import state as state_mod  # noqa: E402

LAG_DEBUG = False
GC_TYPES = bool(os.environ.get("GC_TYPES"))


class Tally:
    """What one run did, counted by light wrappers around the functions that do it."""

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.sql: Counter[str] = Counter()
        self.decoded_bytes = 0
        self.hashed = 0

    def install(self) -> None:
        tally = self
        exchange = session.Session._exchange

        async def counted_exchange(self: Any, method: str, path: str, *a: Any, **k: Any) -> Any:
            route = re.sub(r"^/api/repos/[^/]+/[^/]+/", "", path).split("/")[0]
            tally.requests[f"{method} {route}"] += 1
            return await exchange(self, method, path, *a, **k)

        session.Session._exchange = counted_exchange  # type: ignore[method-assign]
        decode_body = decoding.decode_body

        async def counted_decode(method: str, url: str, raw: bytes, tp: Any) -> Any:
            tally.decoded_bytes += len(raw)
            return await decode_body(method, url, raw, tp)

        decoding.decode_body = counted_decode
        session.decode_body = counted_decode  # type: ignore[attr-defined]
        hash_sync = hashing_mod.hash_file_sync

        def counted_hash(path: Any) -> tuple[str, int]:
            tally.hashed += 1
            return hash_sync(path)

        planner_mod.hash_file_sync = counted_hash
        connect = sqlite3.connect

        def traced_connect(*a: Any, **k: Any) -> sqlite3.Connection:
            db = connect(*a, **k)
            db.set_trace_callback(lambda sql: tally.sql.update([sql.split()[0].upper()]))
            return db

        state_mod.sqlite3.connect = traced_connect  # type: ignore[assignment]

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


GC_PAUSES: list[tuple[int, float]] = []
GC_CPU: list[float] = []


SLOW_CALLBACKS: list[tuple[float, float, str]] = []


def watch_callbacks() -> None:
    """Every loop callback's CPU time (load-independent, unlike its wall time); the worst few
    are kept with what they ran."""
    run = asyncio.events.Handle._run

    def where(task: Any) -> str:
        """The innermost frame a task's coroutine chain is suspended at."""
        coro, frame = task.get_coro() if isinstance(task, asyncio.Task) else None, None
        while coro is not None:
            frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None) or frame
            coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
        if frame is None:
            return "?"
        return f"{frame.f_code.co_qualname}:{frame.f_lineno}"

    def timed_run(self: Any) -> None:
        task = getattr(self._callback, "__self__", None)
        before = where(task)
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        run(self)
        cpu = time.thread_time() - cpu0
        if cpu > 0.005:
            what = f"from {before} to {where(task)}" if task is not None else repr(self)[:200]
            SLOW_CALLBACKS.append((cpu, time.perf_counter() - wall0, what))

    asyncio.events.Handle._run = timed_run  # type: ignore[method-assign]


def watch_gc() -> None:
    """Record every collection's generation and pause (the loop stands still meanwhile)."""
    started = [0.0, 0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = time.perf_counter(), time.thread_time()
        else:
            GC_PAUSES.append((info["generation"], time.perf_counter() - started[0]))
            GC_CPU.append(time.thread_time() - started[1])
            if info["generation"] == 2 and GC_TYPES:
                kinds = Counter(type(o).__name__ for o in gc.get_objects())
                print(f"gen-2 heap: {sum(kinds.values())} objects, {kinds.most_common(8)}")

    gc.callbacks.append(callback)


async def upload(url: str, token: str, repo: str, folder: Path, state: Path) -> Any:
    if LAG_DEBUG:
        asyncio.get_running_loop().slow_callback_duration = 0.02
    async with OxenClient(url, token=token) as oxen:
        return await oxen.repo(repo).upload_folder(
            folder,
            author=Author("Bench", "bench@example.com"),
            message="profile",
            state_dir=state,
            resume=False,
        )


KEY_FRAMES = (
    "scan ", "_classify ", "plan_piece ", "verdicts ", "cached_hashes ", "cache_hashes ",
    "hash_file_sync ", "_fetch ", "decode ", "list_page ", "entries ", "every_item ",
    "_exchange ", "Packer.", "pack_", "compress", "BatchSender.", "emit ", "record ",
    "staged_hashes ", "confirm", "run_sync ", "_write ", "execute", "_each_in ",
)  # fmt: skip


def summarize_pyspy(raw: Path) -> str:
    """Samples per thread, and per thread the share of the key frames (inclusive) and of the
    leaf functions (self)."""
    threads: dict[str, Counter[str]] = {}
    leaves: dict[str, Counter[str]] = {}
    totals: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        kind = "loop" if "run_forever" in stack or "_run_once" in stack else "worker"
        if "py-spy" in stack or "pyspy" in frames[0]:
            continue
        n = int(count)
        totals[kind] += n
        seen = {k for f in frames for k in KEY_FRAMES if k in f}
        threads.setdefault(kind, Counter()).update({k: n for k in seen})
        leaves.setdefault(kind, Counter())[frames[-1]] += n
    lines = []
    for kind, total in totals.items():
        lines.append(f"--- {kind} threads: {total} samples (at 250/s: {total / 250:.1f} s)")
        for k, n in threads[kind].most_common(20):
            lines.append(f"  {100 * n / total:5.1f}%  {k.strip()}")
        lines.append("  leaves:")
        for k, n in leaves[kind].most_common(15):
            lines.append(f"  {100 * n / total:5.1f}%  {k}")
    return "\n".join(lines)


def age(folder: Path, by_ns: int = 10**10) -> None:
    """Files older than the racy window (a fresh smoke folder's would not be fingerprinted)."""
    for path in folder.rglob("*"):
        if path.is_file():
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - by_ns))


def start_control() -> subprocess.Popen[str]:
    """The lag a bare loop in its own process sees meanwhile: the machine's share of ours."""
    control = subprocess.Popen(
        [sys.executable, str(HERE / "_lag_control.py")], stdout=subprocess.PIPE, text=True
    )
    assert control.stdout is not None
    control.stdout.readline()  # "ready"
    return control


def stop_control(control: subprocess.Popen[str]) -> str:
    control.send_signal(signal.SIGINT)
    out, _ = control.communicate(timeout=30)
    return out.strip()


async def move_head(url: str, token: str, repo: str) -> None:
    """A commit by someone else (outside the folder): the branch head is no longer the commit
    the state knows, so the rerun compares every folder against listings again."""
    async with OxenClient(url, token=token) as oxen:
        body = f"moved {time.time_ns()}\n".encode()
        author = Author("Other", "other@example.com")
        await oxen.repo(repo).files.upload("main", "", {"README.md": body}, author=author)


def run_once(name: str, profiler: str, coro: Any, tally: Tally, out: Path) -> Any:
    tally.reset()
    control = start_control()
    GC_PAUSES.clear()
    GC_CPU.clear()
    SLOW_CALLBACKS.clear()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    if profiler == "pyinstrument":
        from pyinstrument import Profiler

        prof = Profiler(interval=0.001, async_mode="disabled")
        with prof:
            report = asyncio.run(coro)
        text = prof.output_text(unicode=False, color=False, show_all=False)
        (out / f"{name}.pyinstrument.txt").write_text(text)
        (out / f"{name}.html").write_text(prof.output_html())
    elif profiler == "cprofile":
        cprof = cProfile.Profile()
        report = cprof.runcall(asyncio.run, coro)
        buf = io.StringIO()
        pstats.Stats(cprof, stream=buf).sort_stats("tottime").print_stats(40)
        text = buf.getvalue()
        cprof.dump_stats(str(out / f"{name}.prof"))
    elif profiler == "pyspy":
        # Every thread (the loop's and the workers'), sampled from outside the process.
        raw = out / f"{name}.pyspy.raw"
        spy_bin = str(Path(sys.executable).parent / "py-spy")
        args = ["record", "--pid", str(os.getpid()), "-t", "-r", "250", "-f", "raw", "-o", str(raw)]
        spy = subprocess.Popen(
            [spy_bin, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)  # py-spy attaches
        report = asyncio.run(coro)
        spy.send_signal(signal.SIGINT)
        spy.wait()
        text = summarize_pyspy(raw)
    else:
        report = asyncio.run(coro)
        text = ""
    wall = time.perf_counter() - started
    beside = stop_control(control)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    print(f"\n===== {name}: {report.status}, {report.files_uploaded} sent, "
          f"{report.files_unchanged} unchanged, {len(report.failed)} failed")  # fmt: skip
    print(f"wall {wall:.1f} s, cpu {cpu:.1f} s, lag p99 {report.loop_lag_p99_ms} ms, "
          f"max {report.loop_lag_max_ms} ms, rss {cpu1.ru_maxrss // 1024} MB; "
          f"a bare loop beside it: {beside}")  # fmt: skip
    print(f"requests: {sum(tally.requests.values())} {dict(tally.requests)}")
    print(f"sql statements: {sum(tally.sql.values())} {dict(tally.sql)}")
    print(f"decoded bytes: {tally.decoded_bytes:,}; files hashed: {tally.hashed}")
    worst = sorted(GC_PAUSES, key=lambda g: -g[1])[:5]
    print(f"gc: {len(GC_PAUSES)} collections, {sum(1 for g in GC_PAUSES if g[0] == 2)} of gen 2, "
          f"{sum(g[1] for g in GC_PAUSES):.2f} s; worst (gen, ms): "
          + ", ".join(f"({g}, {1000 * t:.1f})" for g, t in worst)
          + f"; max CPU of one {1000 * max(GC_CPU, default=0):.1f} ms")  # fmt: skip
    for cpu, wall, what in sorted(SLOW_CALLBACKS, reverse=True)[:6]:
        print(f"  callback cpu {1000 * cpu:.1f} ms (wall {1000 * wall:.1f}): {what}")
    if text:
        (out / f"{name}.txt").write_text(text)
        print(text if profiler == "pyspy" else f"(profile in {out}/{name}.*)")
    return report


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--folders", type=int, default=100)
    p.add_argument("--files-per-folder", type=int, default=1000)
    p.add_argument("--size", type=int, default=2200)
    kinds = ["pyinstrument", "cprofile", "pyspy", "none"]
    p.add_argument("--profiler", choices=kinds, default="none")
    p.add_argument("--first-profiler", choices=kinds)
    p.add_argument("--lag-debug", action="store_true", help="asyncio debug: slow callbacks")
    p.add_argument("--move-head", action="store_true", help="a foreign commit before reruns")
    p.add_argument("--reruns", type=int, default=1)
    p.add_argument("--data-cache", default=str(Path(tempfile.gettempdir()) / "oxen-bench-data"))
    p.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "oxen-profile")
    p.add_argument("--smoke", action="store_true", help="5 x 20 old files, checked (CI)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="oxen-profile-smoke-") as tmp:
        if args.smoke:
            args.folders, args.files_per_folder, args.reruns = 5, 20, 1
            args.profiler = args.first_profiler = "none"
            args.data_cache, args.out = str(Path(tmp) / "data"), Path(tmp) / "out"
        profile(args)


def profile(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    global LAG_DEBUG
    LAG_DEBUG = args.lag_debug
    if LAG_DEBUG:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    watch_gc()
    watch_callbacks()
    folder = _datasets.scale_tree(
        Path(args.data_cache), args.folders, args.files_per_folder, args.size
    )
    if args.smoke:
        age(folder)
    tally = Tally()
    tally.install()
    with tempfile.TemporaryDirectory(prefix="oxen-profile-") as tmp:
        work = Path(tmp)
        with _race.start_server("bundled", work, None) as server:
            repo = make_repo(server, f"profile-{time.time_ns() % 10**10}")
            token = server.token or ""
            state = work / "state"
            first = args.first_profiler or args.profiler
            run_once(
                "first", first, upload(server.url, token, repo, folder, state), tally, args.out
            )
            for i in range(args.reruns):
                if args.move_head:
                    asyncio.run(move_head(server.url, token, repo))
                coro = upload(server.url, token, repo, folder, state)
                again = run_once(f"rerun{i + 1}", args.profiler, coro, tally, args.out)
    if args.smoke:
        files = args.folders * args.files_per_folder
        problems = [] if again.files_unchanged == files else [f"rerun: {again.files_unchanged}"]
        if any(route.endswith(" dir") for route in tally.requests):
            problems.append(f"the unchanged rerun listed folders: {dict(tally.requests)}")
        if problems:
            raise SystemExit("smoke run failed: " + "; ".join(problems))


if __name__ == "__main__":
    main()
