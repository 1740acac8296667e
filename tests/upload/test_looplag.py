"""The loop-lag figures the upload report carries, and what keeps the lag bounded."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from oxen_async import RemoteRepo
from oxen_async.upload.looplag import LoopLagMonitor, frozen_gc
from oxen_async.upload.pack import FileJob
from oxen_async.upload.scan import LocalFile, Problem

from ._tree import AUTHOR, sample_files, write_tree


def test_percentiles_come_from_what_was_recorded() -> None:
    lag = LoopLagMonitor()
    assert lag.percentile_ms(0.99) == 0.0 and lag.max_ms() == 0.0
    for _ in range(98):
        lag.record(0.001)  # 1 ms
    lag.record(0.025)
    lag.record(0.0403)
    assert lag.samples == 100
    assert lag.percentile_ms(0.5) == pytest.approx(1.1)  # the 1 ms bucket's upper edge
    assert lag.percentile_ms(0.99) == pytest.approx(25.1)
    assert lag.max_ms() == pytest.approx(40.3)
    assert lag.percentile_ms(1.0) == pytest.approx(40.3)  # never above the max


def test_early_wake_ups_count_as_no_lag() -> None:
    lag = LoopLagMonitor()
    lag.record(-0.002)
    assert lag.percentile_ms(0.99) == 0.0 and lag.max_ms() == 0.0


def test_the_gc_stays_frozen_while_any_upload_runs() -> None:
    before = object()
    assert frozen_gc.users == 0, "an upload of an earlier test is still running"
    with frozen_gc():
        assert gc.get_freeze_count() > 0  # what existed before is out of the collections' reach
        with frozen_gc():  # a second upload in the same process
            assert frozen_gc.users == 2
        # The first still runs (the count itself drops as frozen objects are freed).
        assert frozen_gc.users == 1 and gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0  # all back within reach: nothing leaks
    assert frozen_gc.users == 0 and before is not None


def test_per_file_values_are_out_of_the_gc(tmp_path: Path) -> None:
    """A million of these pass through an upload: tracked, they brought the collections that
    stopped the event loop."""
    assert not gc.is_tracked(LocalFile("a", str(tmp_path / "a"), 1, 2, 3))
    assert not gc.is_tracked(Problem("a", "why"))
    assert not gc.is_tracked(FileJob("a", str(tmp_path / "a"), 1, 2, "h", inode=3))


async def test_an_upload_freezes_the_gc_only_while_it_runs(
    repo: RemoteRepo, tmp_path: Path, state_dir: Path
) -> None:
    write_tree(tmp_path / "src", sample_files(10))
    during: list[int] = []
    report = await repo.upload_folder(
        str(tmp_path / "src"),
        author=AUTHOR,
        state_dir=state_dir,
        progress=lambda _: during.append(gc.get_freeze_count()),
    )
    assert report.ok and during and min(during) > 0
    assert gc.get_freeze_count() == 0
