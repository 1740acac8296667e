"""Samples through a torch DataLoader (4 workers) from our ``OxenIterableDataset``; prints a
JSON line, or exits 1 when a sample is missing, doubled or wrong. Public API only."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from _loader_check import check, workers
from torch.utils.data import DataLoader

from oxen_async.torch import OxenIterableDataset


def main() -> dict[str, object]:
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("repo")
    p.add_argument("revision")
    p.add_argument("remote_dir")
    p.add_argument("dataset", help="the local copy, to check what was loaded")
    p.add_argument("--token", default="")
    args = p.parse_args()
    namespace, name = args.repo.split("/")
    url = f"oxen://{namespace}:{name}@{args.revision}/{args.remote_dir}"
    started = time.perf_counter()
    ds = OxenIterableDataset(url, host=args.host, token=args.token or None)
    listed = time.perf_counter()
    loader = DataLoader(ds, batch_size=None, num_workers=workers(), timeout=120)
    samples = [data for _, data in loader]
    done = time.perf_counter()
    problem = check(samples, args.dataset)
    if problem:
        sys.exit(problem)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "elapsed_s": done - listed,  # the loading; the listing is reported on its own
        "list_s": listed - started,
        "samples_per_s": len(samples) / (done - listed),
        "cpu_s": usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime,
        "status": "ok",
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


if __name__ == "__main__":
    json.dump(main(), sys.stdout)
    print()
