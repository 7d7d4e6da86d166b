"""Full weld cycles: the real controller welds parts in the simulated cell over real wires."""

from __future__ import annotations

import pytest

from cellctl.packml import State
from tests.cell_rig import running_cell


async def test_a_part_is_welded_end_to_end_and_recorded(tmp_path):
    async with running_cell(tmp_path) as rig:
        await rig.to_idle()
        part = await rig.weld_part()
        assert part["status"] == "complete", part
        assert part["verdict"] == "good", part
        seams = await rig.controller.store.seams(part["id"])
        assert [s["seam"] for s in seams] == ["gusset-left", "gusset-right"]
        for seam in seams:
            assert seam["verdict"] == "good"
            assert seam["heat_input_kj_per_mm"] == pytest.approx(0.539, rel=0.1)
        assert rig.state is State.IDLE
        assert rig.sim.plc.logic.watchdog_trips == 0
