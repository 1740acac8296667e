"""``download_folder(verify_manifest=...)``: the downloaded tree checked against the blake3
manifest it holds.

A file that fails (its blake3 differs from its line, or no line lists it) is deleted from the
local folder, so nothing unverified stays presented as the published tree; files that pass
stay. The error then names what was wrong. The manifest file itself stays (it is what was
checked against). Files the download did not list (already in the folder, absent remotely) are
neither checked as extra nor touched.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
from pathlib import Path

import anyio.to_thread

from .. import paths
from ..errors import ConfigError, ManifestError
from ..manifest import DEFAULT_MANIFEST, ManifestCheck, verify_manifest
from .report import DownloadReport


def manifest_rel(verify: bool | str) -> str:
    """The manifest's path relative to the downloaded folder (True: ``MANIFEST.b3sum``)."""
    rel = DEFAULT_MANIFEST if verify is True else paths.repo_path(str(verify))
    if not rel:
        raise ConfigError("verify_manifest: an empty path; pass True for MANIFEST.b3sum")
    return rel


async def check_download(report: DownloadReport, root: Path, rel: str) -> ManifestCheck:
    """Check the files ``report`` lists under the manifest's folder; on failure delete the
    failing ones and raise ManifestError naming them."""
    lead = f"{report.remote_dir}/" if report.remote_dir else ""
    folder = posixpath.dirname(rel)
    inside = f"{folder}/" if folder else ""
    listed = [p[len(lead) :] for p in (*report.downloaded, *report.skipped)]
    if rel not in listed:
        raise ManifestError(
            f"no manifest {rel!r} in the download of {report.remote_dir or '/'!r}: nothing verified"
        )
    only = [p[len(inside) :] for p in listed if p.startswith(inside) and p != rel]
    check = await anyio.to_thread.run_sync(
        lambda: verify_manifest(root / folder, root / rel, only=only)
    )
    if check.ok:
        return check
    for bad in (*check.mismatched, *check.extra):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(root / folder / bad)
    raise ManifestError(
        f"download does not match its manifest: {check.summary()} "
        "(the mismatched and unlisted files were removed)"
    )
