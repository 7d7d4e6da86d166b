"""The whole machine stalls mid-weld for longer than the power source's interface watchdog.

The power source switches the arc off by itself and latches its error 109 ("no command from
the controller"): F131, taken from the machine's own answer (the robot's link watchdog may
stop it too: F140). The link itself never failed, so
the controller must not announce it coming back with every answer (it did: "power_source link
up" once per status read, for as long as the error stood), and Reset brings the cell back.
"""

from __future__ import annotations

import asyncio
import time

from cellctl.cell.packml import State
from rigs.cell import running_cell


async def test_a_stall_past_the_power_source_watchdog_is_one_fault_and_reset_recovers(tmp_path):
    async with running_cell(tmp_path, 10.0) as rig:
        await rig.to_idle()
        rig.sim.plc.set_part_loaded(True)
        await rig.press("start_button")
        await rig.until(lambda: rig.sim.power_source.arc.burning, "the arc", 20)
        await asyncio.sleep(0.2)
        time.sleep(0.7)  # noqa: ASYNC251 - the stall itself: controller and devices alike
        await rig.until_state(State.ABORTED, 5)
        await asyncio.sleep(1.0)  # several device-watch reads of the latched error
        faults = {f.kind.code: f.detail for f in rig.controller.faults.active}
        events = [e.text for e in rig.controller.events.log]
        # Both devices' own watchdogs saw the controller go quiet (the robot's is F140).
        assert set(faults) <= {"F131", "F140"}, faults
        assert "F131" in faults, faults
        assert "error 109" in faults["F131"]
        assert not rig.sim.power_source.arc.burning
        since_fault = events[next(i for i, t in enumerate(events) if t.startswith("FAULT")) :]
        assert not any("link up" in text for text in since_fault), since_fault
        for _ in range(4):  # acknowledge, clear, reset: a person's presses
            if rig.state is State.IDLE:
                break
            await rig.press("reset_button")
            await asyncio.sleep(0.3)
        assert rig.state is State.IDLE, events[-15:]
