"""Start an Oxen server in a child process: the bundled one, or a real ``oxen-server`` binary.

One home for both, so the pytest plugin, the benchmarks and the demo start servers the same
way: a free port on 127.0.0.1, a private data directory, a token, readiness by polling
``/api/version``, and a clean stop.
"""

from __future__ import annotations

import hashlib
import lzma
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

# The real servers we are proven against, newest (the primary peer) first.
REAL_VERSIONS = ("0.65.2", "0.53.4")
REAL_VERSION = REAL_VERSIONS[0]
# 0.54.0 dropped the server's own bearer-token check (`--auth`, `add-user`): on the hub auth sits
# in front of the server, so a self-hosted 0.65 answers without a token.
FIRST_VERSION_WITHOUT_AUTH = (0, 54, 0)
# Prebuilt binaries we accept by sha256 (the unpacked file), from ../shared/bin or
# $OXEN_ASYNC_PREBUILT_DIR: unpacking one skips a build of well over an hour.
PREBUILT_SHA256 = {
    "0.65.2": "333965a709ca2a1687f62c0874032aef22abdbeb86b0efaa6757c114bcbd6a54",
}


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
    version: str | None = None

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
        cmd += [f"--auth-token={token}"]  # "=": a token may start with "-"
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, token, proc)
    except BaseException:
        proc.kill()
        raise
    return LaunchedServer(url, token, data_dir, "bundled", proc)


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def has_builtin_auth(version: str) -> bool:
    return version_key(version) < FIRST_VERSION_WITHOUT_AUTH


def install_prefix(version: str) -> Path:
    """Where .ci/build-oxen-server installs (``cargo install --root``) and where a prebuilt
    binary is unpacked: one prefix per version, so several live side by side."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "oxen_async" / f"oxen-server-{version}"


def _binary_version(path: str) -> str | None:
    if not (Path(path).is_file() and os.access(path, os.X_OK)):
        return None
    try:
        out = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"\b(\d+\.\d+\.\d+)\b", out)
    return found.group(1) if found else None


def _candidates(version: str) -> list[str]:
    found = [
        os.environ.get("OXEN_SERVER_BIN"),
        shutil.which("oxen-server"),
        str(Path.home() / ".cargo" / "bin" / "oxen-server"),
        str(install_prefix(version) / "bin" / "oxen-server"),
    ]
    return [path for path in found if path]


def prebuilt_dirs() -> list[Path]:
    """Folders that may hold ``oxen-server-<version>-x86_64-linux-gnu.xz``."""
    dirs = [Path(d) for d in os.environ.get("OXEN_ASYNC_PREBUILT_DIR", "").split(os.pathsep) if d]
    return [*dirs, Path.cwd().parent / "shared" / "bin"]


def unpack_prebuilt(version: str) -> str | None:
    """Unpack a known prebuilt binary of ``version`` into its prefix; None when there is none.

    The sha256 of the unpacked file must match PREBUILT_SHA256: a corrupt or foreign file is
    refused (deleted), never run.
    """
    expected = PREBUILT_SHA256.get(version)
    if expected is None:
        return None
    for folder in prebuilt_dirs():
        archive = folder / f"oxen-server-{version}-x86_64-linux-gnu.xz"
        if not archive.is_file():
            continue
        target = install_prefix(version) / "bin" / "oxen-server"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".oxen-server.{os.getpid()}.partial")
        digest = hashlib.sha256()
        with lzma.open(archive) as src, partial.open("wb") as dst:
            while block := src.read(1 << 20):
                digest.update(block)
                dst.write(block)
        if digest.hexdigest() != expected:
            partial.unlink()
            raise RuntimeError(f"{archive}: sha256 {digest.hexdigest()} is not the known build")
        partial.chmod(0o755)
        partial.replace(target)  # atomic: a concurrent reader sees no half-written binary
        return str(target)
    return None


def find_oxen_server(version: str = REAL_VERSION, *, unpack: bool = True) -> str | None:
    """Path of an ``oxen-server`` binary of ``version``: $OXEN_SERVER_BIN, PATH, ~/.cargo/bin,
    its install prefix, else a known prebuilt unpacked into that prefix."""
    for path in _candidates(version):
        if _binary_version(path) == version:
            return path
    return unpack_prebuilt(version) if unpack else None


def installed_real_versions() -> list[tuple[str, str]]:
    """(version, binary) of every supported real server on this machine, newest first."""
    found = [(v, find_oxen_server(v)) for v in REAL_VERSIONS]
    return [(v, path) for v, path in found if path]


def start_real(
    data_dir: Path,
    *,
    version: str = REAL_VERSION,
    binary: str | None = None,
    auth: bool | None = None,
    port: int | None = None,
    log: Path | None = None,
) -> LaunchedServer:
    """Start a real oxen-server on 127.0.0.1 with ``SYNC_DIR=data_dir``.

    ``auth`` defaults to what the version can do: 0.53 runs with ``--auth`` and a user's token
    from ``add-user``; 0.54+ has no auth of its own and runs without a token.
    """
    binary = binary or find_oxen_server(version)
    if binary is None:
        raise RuntimeError(
            f"no oxen-server {version} binary found (set OXEN_SERVER_BIN, or build it with "
            f".ci/build-oxen-server {version})"
        )
    version = _binary_version(binary) or version
    if auth is None:
        auth = has_builtin_auth(version)
    elif auth and not has_builtin_auth(version):
        raise RuntimeError(f"oxen-server {version} has no --auth of its own")
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
    return LaunchedServer(url, token, data_dir, "real", proc, version=version)


def _token_from(output: str) -> str:
    # add-user prints a banner line, a blank line, then the token on a line of its own.
    for line in output.splitlines():
        text = line.strip()
        if text.count(".") == 2 and " " not in text and len(text) > 40:
            return text
    raise RuntimeError("oxen-server add-user printed no token")
