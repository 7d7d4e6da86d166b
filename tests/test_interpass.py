"""Preheat and interpass temperature before each pass, in the simulated cell.

The simulated part heats with the arc's power and cools towards the shop's temperature
(``sim.devices.part_heat``); the PLC serves its temperature as the pyrometer's input. A light
part with a low interpass limit is hot after its first seam: the second waits until it has
cooled, and the wait is recorded. A part colder than its preheat holds the cycle before the arc.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

import pytest
import yaml

from cellctl.cell.packml import State
from cellctl.records.oee import throughput
from rigs.cell import running_cell
from sim.wire.injection import inject

TIME_SCALE = 20.0


def limits(tmp_path: Path, preheat_min_c: float, interpass_max_c: float):
    """An edit of the rig's config: the bracket's procedure with these limits."""

    def edit(cell: dict) -> None:
        path = tmp_path / "config" / "procedures" / "mag-fillet-a4.yaml"
        procedure = yaml.safe_load(path.read_text())
        procedure["temperature"] = {
            "preheat_min_c": preheat_min_c,
            "interpass_max_c": interpass_max_c,
        }
        path.write_text(yaml.safe_dump(procedure))

    return edit


async def test_a_hot_part_waits_for_its_interpass_temperature_and_the_wait_is_recorded(tmp_path):
    async with running_cell(tmp_path, TIME_SCALE, limits(tmp_path, 5, 40)) as rig:
        heat = rig.sim.plc.part_heat
        heat.mass_kg = 2.0  # a light part: one seam heats it by ~50 K
        heat.cooling_time_constant_s = 60.0
        # The part's true temperature each time the arc strikes (the simulator's truth).
        at_strikes: list[float] = []

        async def watch() -> None:
            burning = False
            while True:
                now = rig.sim.power_source.arc.burning
                if now and not burning:
                    at_strikes.append(heat.temperature_c)
                burning = now
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(watch())
        try:
            await rig.to_idle()
            part = await rig.weld_good_part()
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        seams = await rig.controller.store.seams(part["id"])
        parts = await rig.controller.store.parts()
        events = [e.text for e in rig.controller.events.log]
    first, second = (json.loads(s["summary_json"])["temperature"] for s in seams)
    assert first["interpass_wait_s"] == 0
    assert first["before_pass_c"] < 40
    # The second seam waited for the part to cool, and struck its arc only below the limit.
    assert second["interpass_wait_s"] > 0.5
    assert 35 < second["before_pass_c"] <= 40
    assert len(at_strikes) == 2
    assert at_strikes[1] <= 40.5, at_strikes
    # The operator saw why the cell stood still.
    assert any(
        "gusset-right: part at" in text and "waiting for it to cool" in text for text in events
    ), events
    assert (first["preheat_min_c"], first["interpass_max_c"]) == (5, 40)
    # The shift's figures count the wait as a time of its own.
    window = (part["started_at"], part["finished_at"])
    figures = throughput(parts, [], *window, 60.0, [dict(s) for s in seams])
    assert figures.interpass_wait_s == pytest.approx(second["interpass_wait_s"])


async def test_a_part_below_its_preheat_holds_before_the_arc_until_it_is_preheated(tmp_path):
    async with running_cell(tmp_path, TIME_SCALE, limits(tmp_path, 50, 250)) as rig:
        heat = rig.sim.plc.part_heat
        await rig.to_idle()
        rig.sim.plc.set_part_loaded(True)
        await rig.press("start_button")
        await rig.until_state(State.HELD)
        assert [f.kind.code for f in rig.controller.faults.active] == ["F125"]
        detail = rig.controller.faults.active[0].detail
        assert "part at 20.0 °C, below the preheat minimum 50 °C" in detail
        assert not rig.sim.power_source.arc.burning
        # A person preheats the part with a torch, then Unhold: checked again, and welded.
        heat.cooling_time_constant_s = 1e6
        await inject(rig.sim, "part_temperature 80")  # as `cellsim ctl inject` would
        await rig.press("reset_button")
        await rig.press("start_button")
        await rig.until_state(State.IDLE, 30)
        part = (await rig.controller.store.parts())[-1]
        seams = await rig.controller.store.seams(part["id"])
    assert (part["status"], part["verdict"]) == ("complete", "good")
    first = json.loads(seams[0]["summary_json"])["temperature"]
    assert first["before_pass_c"] >= 50
