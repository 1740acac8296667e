"""The same DataLoader over the official client's ``OxenFS`` (oxenai 0.65.1), the way its docs
read a file (``fs.open(path)``), each worker opening its own ``OxenFS``. Runs in a Python with
oxenai and torch (bench_loader.py arranges that); imports nothing from oxen_async."""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from typing import Any
from urllib.parse import urlsplit

from _loader_check import check, context, workers
from _official_config import use_own_config
from torch.utils.data import DataLoader, Dataset


class OxenFSDataset(Dataset[bytes]):
    def __init__(self, namespace: str, name: str, host: str, scheme: str, paths: list[str]):
        self.args = (namespace, name, host, scheme)
        self.paths = paths
        self._fs: Any = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> bytes:
        if self._fs is None or self._pid != os.getpid():
            import oxen

            namespace, name, host, scheme = self.args
            self._fs = oxen.OxenFS(namespace, name, host=host, scheme=scheme)
            self._pid = os.getpid()
        with self._fs.open(self.paths[index], "rb") as f:
            data: bytes = f.read()
        return data


def main() -> dict[str, object]:
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("repo")
    p.add_argument("revision")
    p.add_argument("remote_dir")
    p.add_argument("dataset")
    p.add_argument("--token", default="")
    args = p.parse_args()
    parts = urlsplit(args.host)
    use_own_config(args.token, parts.netloc)
    import oxen

    namespace, name = args.repo.split("/")
    started = time.perf_counter()
    fs = oxen.OxenFS(
        namespace, name, host=parts.netloc, revision=args.revision, scheme=parts.scheme
    )
    paths = sorted(fs.find(args.remote_dir))
    listed = time.perf_counter()
    ds = OxenFSDataset(namespace, name, parts.netloc, parts.scheme, paths)
    # Spawned workers: with fork (the Linux default) the official client's workers hang on
    # their first read here (its native runtime, started by the listing above, does not
    # survive a fork), so users of it must spawn; that is how it is measured.
    loader = DataLoader(
        ds, batch_size=None, num_workers=workers(), timeout=120, multiprocessing_context=context()
    )
    samples = list(loader)
    done = time.perf_counter()
    problem = check(samples, args.dataset)
    if problem:
        sys.exit(problem)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "elapsed_s": done - listed,
        "list_s": listed - started,
        "samples_per_s": len(samples) / (done - listed),
        "cpu_s": usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime,
        "status": "ok",
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


if __name__ == "__main__":
    json.dump(main(), sys.stdout)
    print()
