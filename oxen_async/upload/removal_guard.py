"""When ``delete_missing`` may remove branch files: the safety rule against an empty source.

An unmounted disk or a typo'd path that exists looks like a folder whose files were all
deleted; mirrored faithfully, it would empty the branch. So, like rclone's ``--max-delete``:

- by default a run refuses to remove every file under the destination, or more than half of
  them once at least ``GUARDED_FROM`` files would go;
- ``max_delete=N`` replaces that rule with a plain limit: at most N removals (0: none at all);
- ``force=True`` lifts the default rule (an explicit ``max_delete`` still holds).

A refused run removes nothing and commits nothing; the error says how many files it would have
removed, out of how many, and which option allows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError
from ..limits import MAX_COUNT

# Below this many removals the fraction rule stays quiet: removing 3 of 5 files is an edit.
GUARDED_FROM = 10


class RemovalRefusedError(ConfigError):
    """``delete_missing`` would remove more than the guard allows; nothing was removed."""


@dataclass(frozen=True)
class RemovalGuard:
    max_delete: int | None = None
    force: bool = False

    def __post_init__(self) -> None:
        if self.max_delete is not None and (
            isinstance(self.max_delete, bool)
            or not isinstance(self.max_delete, int)
            or not 0 <= self.max_delete <= MAX_COUNT
        ):
            raise ConfigError(
                f"max_delete must be a whole number from 0 to {MAX_COUNT:,}, "
                f"got {self.max_delete!r}"
            )

    def check_running(self, removing: int, where: str) -> None:
        """Fail early while counting, once an explicit ``max_delete`` is already exceeded."""
        if self.max_delete is not None and removing > self.max_delete:
            raise RemovalRefusedError(
                f"refusing to remove more than {self.max_delete:,} files under {where} "
                f"(--max-delete / max_delete); raise it to allow this"
            )

    def check(self, removing: int, remote_total: int, where: str) -> None:
        """Raise RemovalRefusedError unless removing ``removing`` of ``remote_total`` is allowed.

        ``where`` names the destination for the message (``ns/repo@main:/data``).
        """
        if removing <= 0:
            return
        self.check_running(removing, where)
        if self.max_delete is not None or self.force:
            return
        if removing >= remote_total:
            raise RemovalRefusedError(
                f"refusing to remove all {remote_total:,} files under {where}: the local folder "
                "has none of them (an unmounted disk or a wrong path?); pass --force "
                "(force_delete=True) or --max-delete N (max_delete=N) to allow it"
            )
        if removing >= GUARDED_FROM and removing * 2 > remote_total:
            raise RemovalRefusedError(
                f"refusing to remove {removing:,} of {remote_total:,} files under {where} "
                "(more than half); pass --force (force_delete=True) or --max-delete N "
                "(max_delete=N) to allow it"
            )
