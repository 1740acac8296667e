"""Files over the gzip cap go through the chunked ``/versions`` route, staged into the workspace.

The chunk reading, its stat checks and the complete step live in ``api.versions.upload_file``;
this is the uploader's view of it: a planned job in, bytes sent out.
"""

from __future__ import annotations

from ..api.versions import Versions
from .pack import FileJob

CHUNK_CONCURRENCY = 2  # chunks of one file in memory at once (10 MiB each)


async def upload_large(
    versions: Versions, job: FileJob, *, repo_path: str, workspace_id: str
) -> int:
    """Send one large file's chunks and stage it; raises FileChangedError or the API's errors."""
    return await versions.upload_file(
        job.abs_path,
        job.hash,
        job.size,
        repo_path=repo_path,
        workspace_id=workspace_id,
        mtime_ns=job.mtime_ns,
        concurrency=CHUNK_CONCURRENCY,
    )
