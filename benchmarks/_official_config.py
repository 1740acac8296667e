"""The official client's configuration for one benchmark run: a folder of its own (its auth
and user files), set as ``OXEN_CONFIG_DIR`` before ``oxen`` is imported (it reads the config on
use) and removed when the run exits. Runs under the official client's Python: stdlib only.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile


def use_own_config(token: str, netloc: str, *, user: bool = False) -> None:
    """A fresh config folder for this process (gone at exit), with ``token`` for ``netloc``
    and, with ``user``, a commit author."""
    folder = tempfile.mkdtemp(prefix="oxen-official-config-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ["OXEN_CONFIG_DIR"] = folder
    if user:
        from oxen.user import config_user

        config_user("Bench", "bench@example.com", os.path.join(folder, "user_config.toml"))
    if token:
        from oxen.auth import config_auth

        config_auth(token, host=netloc, path=os.path.join(folder, "auth_config.toml"))
