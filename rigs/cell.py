"""A whole cell for integration tests: the simulated devices and the real controller.

Both run in the test's event loop but meet only on real wires (Modbus TCP on loopback, ptys for
the power source and the robot), on a private copy of the shipped config whose ports and pty
paths live in the test's tmp folder. ``rig.sim`` is the ground truth and the fault injector;
``rig.controller`` is the controller under test, built by the same wiring function as
``cellctl run``.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from cellctl.cell.packml import State
from cellctl.cli.demo import prepare_run_folder
from cellctl.collector import freeze_what_lives_on
from cellctl.config import load_cell_config
from cellctl.controller.controller import Controller
from cellctl.wiring import build_controller
from sim.cell import SimulatedCell
from sim.cellfile import load_cell_devices
from sim.clock import SimClock
from sim.scenario.rig import until_or_after

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

REPO = Path(__file__).resolve().parent.parent
# The longest a press waits for the controller to take it: a person's press (the simulated
# PLC holds a button BUTTON_PRESS_S, 0.25 s) and a scan to see it.
PRESS_WAIT_S = 0.3


class CellRig:
    def __init__(self, sim: SimulatedCell, controller: Controller, config_path: Path):
        self.sim = sim
        self.controller = controller
        self.config_path = config_path

    @property
    def state(self) -> State:
        return self.controller.machine.state

    async def until(
        self, condition: Callable[[], bool], what: str, timeout_s: float = 20.0
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(
                    f"timed out after {timeout_s:g} s waiting for {what}; state "
                    f"{self.state.label}, phase {self.controller.view().phase}, faults "
                    f"{[f.describe() for f in self.controller.faults.active]}, events:\n  "
                    + "\n  ".join(e.text for e in list(self.controller.events.log)[-12:])
                )
            await asyncio.sleep(0.01)

    async def until_state(self, state: State, timeout_s: float = 20.0) -> None:
        await self.until(lambda: self.state is state, f"state {state.label}", timeout_s)

    async def press(self, button: str) -> None:
        """Press a button on the PLC's panel as a person does, and wait until the controller
        has acted on the press (its command carried out or refused), at most ``PRESS_WAIT_S``
        (a panel it cannot read, its PLC link down, takes no press). A button still held, or
        not yet seen released, is first let go: the controller acts on a press's edge, and a
        press on a held button would only hold it longer."""
        panel = self.controller.panel
        held_until = self.sim.plc.field.buttons_until.get(button, 0.0)
        await until_or_after(
            lambda: time.monotonic() >= held_until and not panel.button_down(button),
            max(0.0, held_until - time.monotonic()) + PRESS_WAIT_S,
            poll_s=0.005,
        )
        taken = panel.presses_taken[button]
        self.sim.plc.press(button)
        await until_or_after(
            lambda: panel.presses_taken[button] > taken, PRESS_WAIT_S, poll_s=0.005
        )

    async def to_idle(self) -> None:
        await self.until(
            lambda: self.links_up() and bool(self.controller.panel.inputs),
            "every link up and a PLC scan",
        )
        await self.press("reset_button")
        await self.until_state(State.IDLE)

    async def reset_to_idle(self, presses: int = 5) -> None:
        """What the operator does once the cause of a stop is gone: Reset (acknowledge,
        clear, reset) until the cell is Idle."""
        for _ in range(presses):
            await self.press("reset_button")
            if self.state is State.IDLE:
                break
        await self.until_state(State.IDLE, 5)

    async def weld_good_part(self) -> dict[str, Any]:
        """``weld_part``, and the part must come out complete and good."""
        part = await self.weld_part()
        assert (part["status"], part["verdict"]) == ("complete", "good"), part
        return part

    async def weld_part(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """From Idle: load a part, press Start, wait until the cell is Idle again."""
        await self._start_part()
        await self.until_state(State.IDLE, timeout_s)
        parts = await self.controller.store.parts()
        return parts[-1]

    async def weld_part_without_faults(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """``weld_part``, but failing as soon as any fault is raised, naming the faults."""
        await self._start_part()
        return await self.until_welded_without_faults(timeout_s)

    async def until_welded_without_faults(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """Wait for the part in progress to end (the cell Idle again) and return its row;
        fail as soon as any fault is raised, naming the faults."""
        await self.until(
            lambda: self.state is State.IDLE or bool(self.controller.faults.active),
            "the part welded (or a fault)",
            timeout_s,
        )
        assert not self.controller.faults.active, [
            f.describe() for f in self.controller.faults.active
        ]
        parts = await self.controller.store.parts()
        return parts[-1]

    async def _start_part(self) -> None:
        self.sim.plc.set_part_loaded(True)
        await self.press("start_button")
        await self.until(lambda: self.state is not State.IDLE, "the cycle to start", 5)

    async def until_phase(self, text: str, timeout_s: float = 20.0) -> None:
        await self.until(
            lambda: text in self.controller.view().phase or text == self._step(),
            f"phase {text}",
            timeout_s,
        )

    def _step(self) -> str:
        """The step of the seam the weld cycle is on ('' when no cycle runs)."""
        view = self.controller.view()
        return str(view.activity.step) if view.cycle_running and view.activity.seam else ""

    def links_up(self) -> bool:
        return not self.controller.links.blockers()


def write_config(tmp_path: Path, edit: Callable[[dict], None] | None = None) -> Path:
    """A private copy of config/ with ports and ptys in ``tmp_path``; ``edit`` tweaks cell.yaml."""
    derived = prepare_run_folder(REPO / "config" / "cell.yaml", tmp_path, None)
    cell = yaml.safe_load(derived.read_text())
    # Short timeouts: on loopback and ptys answers come in well under a millisecond.
    for device in ("plc", "power_source", "robot"):
        cell[device]["link"]["reconnect_delay_min_ms"] = 20
        cell[device]["link"]["reconnect_delay_max_ms"] = 200
    if edit is not None:
        edit(cell)
    derived.write_text(yaml.safe_dump(cell))
    return derived


@asynccontextmanager
async def running_cell(
    tmp_path: Path,
    time_scale: float = 20.0,
    edit: Callable[[dict], None] | None = None,
    vision: Any = None,
    simulate_sensor: bool = True,
    before_start: Callable[[Controller], Awaitable[None]] | None = None,
) -> AsyncIterator[CellRig]:
    """``vision`` (a ``sim.truth.part.VisionScenario``) is the true part the simulated sensor
    sees; the sensor runs only when ``edit`` enables it in the config (and ``simulate_sensor``:
    False leaves the controller's sensor to a sensor of the test's own). ``before_start`` runs
    after the controller is built and before its links start: what holds the event loop for
    long (the OPC UA server's address space) goes there, as in ``cellctl run``, since the
    simulated devices answer on this same loop."""
    # The seam loop's threads and the simulated robots' lower the process's GIL switch
    # interval (cellctl.sensing.stream); the worker's later tests get the one it had.
    switch_interval_s = sys.getswitchinterval()
    config_path = write_config(tmp_path, edit)
    config = load_cell_config(config_path)
    devices = load_cell_devices(config_path)
    if not simulate_sensor:
        devices.sensor["enabled"] = False
    sim = SimulatedCell(devices, SimClock(time_scale), vision=vision)
    await sim.start()
    controller = build_controller(config)
    try:
        if before_start is not None:
            await before_start(controller)
        # As `cellctl run` does, before the links start: what the controller (and its OPC UA
        # address space) built lives as long as the cell, and a full collection walking it
        # mid-weld held this one loop, the simulated devices' too, for 0.4-0.6 s (F131, F140).
        freeze_what_lives_on()
        await controller.start()
        # Not real-time, unlike `cellctl run` and the scenario runner's devices: the test's
        # own code runs in this process too (plots, screenshots, a flood of OPC UA sessions),
        # and under SCHED_FIFO, which never time-slices, that starved the other worker's
        # real-time cell for seconds (a full run on three workers: F131/F132 everywhere).
        # (Under the suite nothing is real-time now: tests/conftest.py sets CELLCTL_REALTIME=0.)
        yield CellRig(sim, controller, config_path)
    finally:
        await controller.shutdown()
        controller.store.close()
        await sim.close()
        sys.setswitchinterval(switch_interval_s)
