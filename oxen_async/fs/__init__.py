"""An async fsspec filesystem for Oxen repositories (needs the ``fsspec`` extra).

``oxen-async://namespace:repo@revision/path`` always reaches this filesystem;
``oxen://`` reaches it too unless the official ``oxenai`` package claims that name first
(see README: "fsspec"). ``register()`` makes ``oxen://`` ours in this process.
"""

from __future__ import annotations

from .filesystem import OxenFileSystem, RevisionNotFoundError
from .url import PROTOCOLS

__all__ = ["OxenFileSystem", "RevisionNotFoundError", "register"]


def register(*, clobber: bool = True) -> None:
    """Register ``oxen://`` and ``oxen-async://`` as this filesystem in this process."""
    import fsspec

    for protocol in PROTOCOLS:
        fsspec.register_implementation(protocol, OxenFileSystem, clobber=clobber)
