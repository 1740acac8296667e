"""The main job end to end, as a user would run it, with nothing but this package installed.

1. start the bundled Oxen-compatible server (``oxen-async serve``) on a free port, with a
   throwaway data dir and a token;
2. generate a sample dataset: 2,000 small files in nested folders with unicode names, plus one
   12 MiB file;
3. ``oxen-async upload ... --create``: the whole folder lands as one commit;
4. run it again (nothing to commit), grow the folder, run again (only the new files go);
5. ``oxen-async ls`` and ``oxen-async log`` to show what the repository now holds;
6. stop the server.

Run: ``python3 -m nox -s demo`` (or ``python benchmarks/demo.py`` with the package installed).
Exits non-zero if any step did not do what it should.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

REPO = "demo/dataset"
SMALL_FILES = 2_000
LARGE_FILE_BYTES = 12 * 1024 * 1024

# Folder and file names beyond ASCII, as real datasets have them.
TOPICS = ["images", "données", "日本語", "música", "ελληνικά", "emoji-🦀"]
SPLITS = ["train", "valid", "test"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_dataset(root: Path, n_small: int, large_bytes: int, seed: int = 0) -> int:
    """Write the sample folder; returns its total size in bytes. Deterministic for a seed."""
    rng = random.Random(seed)
    total = 0
    for i in range(n_small):
        folder = root / TOPICS[i % len(TOPICS)] / SPLITS[(i // len(TOPICS)) % len(SPLITS)]
        folder.mkdir(parents=True, exist_ok=True)
        name = f"échantillon-{i:05d}.txt" if i % 3 else f"sample_{i:05d}.json"
        body = f'{{"id": {i}, "label": "{rng.choice(TOPICS)}", "value": {rng.random()}}}\n'
        data = body.encode() * rng.randint(1, 20)
        (folder / name).write_bytes(data)
        total += len(data)
    # Random bytes: incompressible, as media is, so it exercises the large-file route honestly.
    big = root / "large" / "weights-12MiB.bin"
    big.parent.mkdir(parents=True, exist_ok=True)
    big.write_bytes(rng.randbytes(large_bytes))
    return total + large_bytes


@contextmanager
def bundled_server(data_dir: Path, port: int, token: str) -> Iterator[str]:
    """``oxen-async serve`` as a child process; stopped with SIGINT (as Ctrl-C would)."""
    cmd = [
        *CLI,
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--auth-token",
        token,
    ]
    show(["oxen-async", "serve", "--port", str(port), "--data-dir", str(data_dir), "..."])
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_listening(proc, port)
        print(f"   server ready at {url}\n", flush=True)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        print(f"\n   server stopped (exit {proc.returncode})", flush=True)


def wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"demo: the server exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"demo: the server did not listen on port {port} within {timeout:.0f} s")


CLI = [sys.executable, "-m", "oxen_async"]


def show(argv: Sequence[str]) -> None:
    print(f"$ {shlex.join(argv)}", flush=True)


def oxen_async(*args: str, env: dict[str, str], expect: int = 0) -> str:
    """Run the CLI like a user would; echo the command and its output; check the exit code."""
    show(["oxen-async", *args])
    proc = subprocess.run(
        [*CLI, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True
    )
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    print(flush=True)
    if proc.returncode != expect:
        raise SystemExit(f"demo: expected exit {expect}, got {proc.returncode}")
    return proc.stdout


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=SMALL_FILES, help="small files to make")
    parser.add_argument("--large-mib", type=int, default=LARGE_FILE_BYTES // 2**20)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="oxen-async-demo-") as tmp_name:
        tmp = Path(tmp_name)
        dataset = tmp / "dataset"
        config_dir = tmp / "oxen-config"
        config_dir.mkdir()
        # The commit author comes from oxen's own user_config.toml, as for the official client.
        (config_dir / "user_config.toml").write_text(
            'name = "Demo Person"\nemail = "demo@example.com"\n', encoding="utf-8"
        )
        token = secrets.token_hex(16)
        port = free_port()
        env = dict(os.environ)
        # The token travels in the environment, never on a command line a demo prints.
        env.update(
            OXEN_CONFIG_DIR=str(config_dir),
            OXEN_AUTH_TOKEN=token,
            OXEN_HOST=f"http://127.0.0.1:{port}",
        )

        started = time.monotonic()
        size = make_dataset(dataset, args.files, args.large_mib * 2**20)
        print(
            f"   made {args.files + 1:,} files ({size / 2**20:.1f} MiB) in {dataset} "
            f"in {time.monotonic() - started:.1f} s\n",
            flush=True,
        )

        with bundled_server(tmp / "server-data", port, token):
            # 1. The whole folder, into a repository that does not exist yet, as one commit.
            oxen_async("upload", str(dataset), REPO, "--create", "-m", "Initial dataset", env=env)
            # 2. Run again: every file is already there, so nothing is sent or committed.
            oxen_async("upload", str(dataset), REPO, env=env)
            # 3. The folder grows; only the new files go, in a second commit.
            grown = dataset / "données" / "train"
            for i in range(25):
                (grown / f"nouveau-{i:02d}.txt").write_text(f"new sample {i}\n", encoding="utf-8")
            report = oxen_async("upload", str(dataset), REPO, "-m", "25 more", "--json", env=env)
            result = json.loads(report)
            if result["status"] != "committed" or result["files_uploaded"] != 25:
                raise SystemExit("demo: the grown folder should have sent exactly 25 new files")
            print("   (--json: the report above, as a program reads it)\n", flush=True)
            # 4. What the repository holds now.
            oxen_async("ls", REPO, env=env)
            oxen_async("ls", REPO, "large", env=env)
            oxen_async("log", REPO, env=env)
    print("demo: done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
