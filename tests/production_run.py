"""A short production run with faults, made by the real controller against the simulator.

The report tests and the report's sample plots need records that look like a shift: good
parts, a bad part (the arc burning 45 A off its setpoint), a part aborted by an opened door,
the PLC link lost while idle, and an overheated power source: each with its real reaction and
record.

    python -m tests.production_run OUT.db [PARTS]   # writes a copy of the run's database
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import tempfile
from pathlib import Path

from cellctl.cell.packml import State
from rigs.cell import CellRig, running_cell


async def recover(rig: CellRig) -> None:
    """The operator's way back once the cause is gone: wait for links, Reset, until Idle."""
    await rig.until(rig.links_up, "links up", 10)
    await rig.until(lambda: not rig.sim.plc.logic.watchdog_tripped, "the PLC's watchdog")
    await asyncio.sleep(0.1)
    for _ in range(5):
        await rig.press("reset_button")
        if not rig.controller.faults.active and rig.state is State.IDLE:
            return
        await asyncio.sleep(0.3)
    await rig.until_state(State.IDLE)


async def weld_a_shift(rig: CellRig, parts: int = 8) -> None:
    """Weld ``parts`` parts from Idle, with the faults of the module docstring on the way."""
    await rig.to_idle()
    for number in range(parts):
        if number == 2:
            rig.sim.power_source.inject("current_offset:45")  # a bad part
        if number == 3:
            # The door opened during the first seam: the part is aborted, never good.
            rig.sim.plc.set_part_loaded(True)
            await rig.press("start_button")
            await rig.until(
                lambda: rig._step() == "welding" and rig.sim.power_source.arc.burning, "the arc"
            )
            rig.sim.plc.set_door_open(True)
            await rig.until(lambda: rig.state is State.ABORTED, "the abort")
            await asyncio.sleep(0.5)  # the door stays open a while: downtime
            rig.sim.plc.set_door_open(False)
            await recover(rig)
        if number == 5:
            await rig.sim.unplug("plc")  # a cable pulled while the cell waits for a part
            await rig.until(lambda: rig.controller.faults.active, "the link fault")
            await asyncio.sleep(0.8)
            await rig.sim.plug_in("plc")
            await recover(rig)
        if number == 6:
            rig.sim.power_source.inject("error:106")  # the power source overheated
            await rig.until(lambda: rig.controller.faults.active, "the power source fault")
            await asyncio.sleep(0.6)
            rig.sim.power_source.clear_faults()
            await recover(rig)
        await rig.weld_part(timeout_s=60)
        if number == 2:
            rig.sim.power_source.clear_faults()


async def _main(out: Path, parts: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with running_cell(Path(folder), time_scale=20.0) as rig:
            await weld_a_shift(rig, parts)
            database = rig.controller.store.path
        with sqlite3.connect(database) as source, sqlite3.connect(out) as target:
            source.backup(target)
        source.close()
        target.close()


if __name__ == "__main__":
    asyncio.run(_main(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 8))
