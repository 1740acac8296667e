"""Upload sources beyond local disk: any fsspec URL (``s3://``, ``gs://``, ``memory://``...).

A local folder keeps the fast local path (``upload.scan``, ``pack.read_stable``); a URL is
listed and read through its fsspec filesystem (``remote.py``), with the upload state keyed on
each object's size and change token (``tokens.py``) where a local file's stat goes.
"""

from .remote import RemoteSource, SourceChangedError, SourceError, is_url, open_source

__all__ = ["RemoteSource", "SourceChangedError", "SourceError", "is_url", "open_source"]
