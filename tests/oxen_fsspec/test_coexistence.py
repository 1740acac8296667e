"""Ours next to the official client: both register ``oxen`` for fsspec; neither may break.

The side-by-side test needs a Python where both are installed (oxenai 0.65.1 and this
package, e.g. ``python -m venv v && v/bin/pip install oxenai==0.65.1 .``): point
``OXEN_ASYNC_FSBOTH_PYTHON`` at it. Our current tree is put first on its path, so the code
under test is this checkout's while the entry points are the installed ones.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from oxen_async.fs import OxenFileSystem
from oxen_async.testing.handle import RepoHandle

ROOT = Path(__file__).resolve().parents[2]
BOTH_ENV = "OXEN_ASYNC_FSBOTH_PYTHON"

CHECK = r"""
import json, sys
import fsspec, oxen
url, ns, name, token = sys.argv[1:5]
host = url.split("://", 1)[1]
out = {
    "oxen": fsspec.get_filesystem_class("oxen").__module__,
    "oxen-async": fsspec.get_filesystem_class("oxen-async").__module__,
}
official = oxen.OxenFS(ns, name, host=host, scheme="http")
out["official_ls"] = sorted(official.ls("both"))
with official.open("both/hello.txt") as f:
    out["official_read"] = f.read().decode()
ours = fsspec.filesystem("oxen-async", namespace=ns, repo=name, host=url, token=token or None)
out["ours_read"] = ours.cat("both/hello.txt").decode()
with fsspec.open(f"oxen-async://{ns}:{name}@main/both/hello.txt", "rb", host=url) as f:
    out["ours_url_read"] = f.read().decode()
print(json.dumps(out))
"""


def test_entry_points_name_our_filesystem() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    specs = project["project"]["entry-points"]["fsspec.specs"]
    assert set(specs) == {"oxen", "oxen-async"}
    for target in specs.values():
        module, _, attr = target.partition(":")
        imported = __import__(module, fromlist=[attr])
        assert getattr(imported, attr) is OxenFileSystem


def test_side_by_side_with_the_official_client(
    fs: OxenFileSystem, oxen_repo: RepoHandle, tmp_path: Path
) -> None:
    python = os.environ.get(BOTH_ENV)
    if not python:
        pytest.skip(f"set ${BOTH_ENV} to a Python with oxenai 0.65.1 and oxen-async installed")
    fs.pipe("both/hello.txt", b"hello from both")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OXEN_CONFIG_DIR": str(tmp_path)}
    if oxen_repo.server.token:  # the official client reads its token from oxen's config only
        host = oxen_repo.server.url.split("://", 1)[1]
        (tmp_path / "auth_config.toml").write_text(
            f'[[host_configs]]\nhost = "{host}"\nauth_token = "{oxen_repo.server.token}"\n'
        )
    args = [oxen_repo.server.url, oxen_repo.namespace, oxen_repo.name, oxen_repo.server.token or ""]
    done = subprocess.run(
        [python, "-c", CHECK, *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["oxen-async"].startswith("oxen_async.fs")  # always ours
    # ``oxen`` is whichever distribution importlib.metadata lists first: either, never broken.
    assert seen["oxen"].split(".")[0] in {"oxen_async", "oxen"}
    assert seen["official_ls"] == ["both/hello.txt"]
    assert seen["official_read"] == seen["ours_read"] == seen["ours_url_read"] == "hello from both"
    assert sys.executable != python  # the check ran in the other environment
