"""The loop-lag figures the upload report carries."""

from __future__ import annotations

import pytest

from oxen_async.upload.looplag import LoopLagMonitor


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
