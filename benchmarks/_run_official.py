"""One upload with the official client (oxenai 0.65.1; 0.53.4 alike) in its own virtualenv,
the way its users bulk-add a tree: ``Workspace.add_files(base_dir, paths)`` then ``commit``.
Prints JSON.

Runs under the official client's own Python, so it imports nothing from oxen_async.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from _official_config import use_own_config


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> dict[str, object]:
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("repo")
    p.add_argument("dir")
    p.add_argument("--token", default="")
    args = p.parse_args()
    parts = urlsplit(args.host)
    use_own_config(args.token, parts.netloc, user=True)
    import oxen  # imported after its config is set: it reads the config on use

    root = Path(args.dir)
    paths = sorted(str(p) for p in root.rglob("*") if p.is_file())
    size = sum(Path(p).stat().st_size for p in paths)
    cpu0 = cpu_seconds()
    started = time.perf_counter()
    repo = oxen.RemoteRepo(args.repo, host=parts.netloc, scheme=parts.scheme)
    ws = oxen.Workspace(repo, "main")
    ws.add_files(str(root), paths)
    ws.commit("bench: official client")
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds() - cpu0
    return {
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "files": len(paths),
        "bytes": size,
        "status": "committed",
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    json.dump(main(), sys.stdout)
    print()
