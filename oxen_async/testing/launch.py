"""Start an Oxen server in a child process: the bundled one, or a real ``oxen-server`` binary.

One home for both, so the pytest plugin, the benchmarks and the demo start servers the same
way: a free port on 127.0.0.1, a private data directory, a token, readiness by polling
``/api/version``, and a clean stop.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

REAL_VERSION = "0.53.4"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class LaunchedServer:
    url: str
    token: str | None
    data_dir: Path
    kind: Literal["bundled", "real"]
    process: subprocess.Popen[bytes] = field(repr=False)

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LaunchedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_ready(
    url: str, token: str | None, process: subprocess.Popen[bytes], timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(f"{url}/api/version")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with code {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(request, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"server at {url} not ready after {timeout}s")


def start_bundled(
    data_dir: Path, *, token: str | None = None, port: int | None = None, log: Path | None = None
) -> LaunchedServer:
    port = port or free_port()
    cmd = [sys.executable, "-m", "oxen_async.testing", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--data-dir", str(data_dir)]
    if token:
        cmd += ["--auth-token", token]
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, token, proc)
    except BaseException:
        proc.kill()
        raise
    return LaunchedServer(url, token, data_dir, "bundled", proc)


def find_oxen_server(version: str = REAL_VERSION) -> str | None:
    """Path of an ``oxen-server`` binary of ``version`` ($OXEN_SERVER_BIN, PATH, ~/.cargo/bin)."""
    candidates = [
        os.environ.get("OXEN_SERVER_BIN"),
        shutil.which("oxen-server"),
        str(Path.home() / ".cargo" / "bin" / "oxen-server"),
    ]
    for path in candidates:
        if path and Path(path).is_file() and os.access(path, os.X_OK):
            try:
                out = subprocess.run(
                    [path, "--version"], capture_output=True, text=True, timeout=30, check=False
                ).stdout
            except (OSError, subprocess.TimeoutExpired):
                continue
            if re.search(rf"\b{re.escape(version)}\b", out):
                return path
    return None


def start_real(
    data_dir: Path,
    *,
    binary: str | None = None,
    auth: bool = True,
    port: int | None = None,
    log: Path | None = None,
) -> LaunchedServer:
    """Start a real oxen-server on 127.0.0.1 with ``SYNC_DIR=data_dir`` (and a user's token)."""
    binary = binary or find_oxen_server()
    if binary is None:
        raise RuntimeError(f"no oxen-server {REAL_VERSION} binary found")
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SYNC_DIR": str(data_dir), "OXEN_CONFIG_DIR": str(data_dir / ".config")}
    token: str | None = None
    if auth:
        out = subprocess.run(
            [
                binary,
                "add-user",
                "-e",
                "bench@example.com",
                "-n",
                "Bench",
                "-o",
                str(data_dir / "user.toml"),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
        token = _token_from(out)
    port = port or free_port()
    cmd = [binary, "start", "-i", "127.0.0.1", "-p", str(port)] + (["--auth"] if auth else [])
    sink = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, env=env, cwd=data_dir, stdout=sink, stderr=sink)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, token, proc, timeout=120)
    except BaseException:
        proc.kill()
        raise
    return LaunchedServer(url, token, data_dir, "real", proc)


def _token_from(output: str) -> str:
    # add-user prints a banner line, a blank line, then the token on a line of its own.
    for line in output.splitlines():
        text = line.strip()
        if text.count(".") == 2 and " " not in text and len(text) > 40:
            return text
    raise RuntimeError("oxen-server add-user printed no token")
