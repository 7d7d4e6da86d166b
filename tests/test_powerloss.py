"""kill -9 of the real controller at 20 random moments (`make bench` does 200): the store stays
intact, no seam whose commit the controller acknowledged is lost, every interrupted part is
marked incomplete, and the devices' own watchdogs make the cell safe each time."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sim.scenario.powerloss import run_power_loss

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_kill_9_at_twenty_random_moments_loses_nothing(tmp_path: Path):
    report = asyncio.run(run_power_loss(REPO / "config" / "cell.yaml", tmp_path, 20, seed=20))
    assert report.problems == [], f"{report.problems} (logs in {tmp_path})"
    assert report.rounds == 20
    # The kills landed in the cycle, not only between parts: while welding, while moving.
    assert report.kills_while_arc_on >= 5
    assert report.kills_while_moving >= 8
    assert report.seams_acknowledged >= 5
    assert report.parts_interrupted >= 10
