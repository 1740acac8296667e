"""One folder download with the official client (oxenai 0.65.1) in its own virtualenv, the way
its docs show: ``RemoteRepo(...).download(folder, dst, revision)``. Prints a JSON line.

Runs under the official client's own Python, so it imports nothing from oxen_async.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from urllib.parse import urlsplit

from _official_config import use_own_config


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> dict[str, object]:
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("repo")
    p.add_argument("revision")
    p.add_argument("remote_dir")
    p.add_argument("local_dir")
    p.add_argument("--token", default="")
    args = p.parse_args()
    parts = urlsplit(args.host)
    use_own_config(args.token, parts.netloc)
    import oxen  # after its config is set: it reads the config on use

    cpu0, started = cpu_seconds(), time.perf_counter()
    repo = oxen.RemoteRepo(
        args.repo, host=parts.netloc, revision=args.revision, scheme=parts.scheme
    )
    repo.download(args.remote_dir, args.local_dir, revision=args.revision)
    elapsed, cpu = time.perf_counter() - started, cpu_seconds() - cpu0
    return {
        "elapsed_s": elapsed,
        "cpu_s": cpu,
        "status": "ok",
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


if __name__ == "__main__":
    json.dump(main(), sys.stdout)
    print()
