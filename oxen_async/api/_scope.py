"""What every per-repository call group shares: the session and the repository's base path."""

from __future__ import annotations

from dataclasses import dataclass

from .. import paths
from ..session import Session


@dataclass(frozen=True)
class RepoScope:
    session: Session
    namespace: str
    name: str

    @property
    def base(self) -> str:
        return f"/api/repos/{paths.segment(self.namespace)}/{paths.segment(self.name)}"

    def path(self, tail: str) -> str:
        """``/api/repos/{ns}/{name}/{tail}``; ``tail`` is already quoted."""
        return f"{self.base}/{tail}"

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"
