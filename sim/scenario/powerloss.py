"""Power loss at random moments: kill -9 of a real controller, again and again, and the proofs.

The rig keeps one simulated cell running and, for each round, starts `cellctl run`, has the
operator start parts, and kills the controller with SIGKILL at a random moment of the cycle
(approach, arc, crater, the commit of a seam record, between parts). After each kill:

- the cell is safe without the controller: the arc out (the power source's interface
  watchdog) and the robot still (its link watchdog), within ``SAFE_WITHOUT_CONTROLLER_S``;
- ``PRAGMA integrity_check`` is ok;
- every seam the controller said was recorded (its log line "part N seam S recorded", printed
  after the commit returned) is in the store: an acknowledged commit is never lost;
- on the next start, every part the kill interrupted is marked incomplete, and no part is
  complete without all of its seams.

Used by the test suite (20 rounds) and `make bench` (200 rounds); `cellsim powerloss` runs it
for a test rig.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from drivers.codecs.robot_protocol import RobotState
from drivers.realtime import realtime_process_while
from sim.cell import SimulatedCell
from sim.cellfile import load_cell_devices
from sim.clock import SimClock
from sim.scenario.rig import (
    DEVICES_REALTIME_PRIORITY,
    ControllerProcess,
    StoreView,
    let_go,
    until_or_after,
)
from sim.scenario.runner import ScenarioFile, prepare_config

# The power source's interface watchdog and the robot's link watchdog, with margin.
SAFE_WITHOUT_CONTROLLER_S = 2.0
RECORDED = re.compile(r"part (\d+) seam (\S+) recorded")
MOMENTS = ("anywhere", "arc", "commit", "motion")


@dataclass
class PowerLossReport:
    rounds: int = 0
    kills_while_arc_on: int = 0
    kills_while_moving: int = 0
    seams_acknowledged: int = 0
    seams_lost: list[str] = field(default_factory=list)
    parts_interrupted: int = 0
    parts_not_marked_incomplete: list[int] = field(default_factory=list)
    complete_parts_missing_seams: list[int] = field(default_factory=list)
    integrity_failures: list[str] = field(default_factory=list)
    unsafe_after_kill: list[str] = field(default_factory=list)
    safe_after_kill_s: list[float] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return (
            [f"seam lost: {s}" for s in self.seams_lost]
            + [f"part {p} not marked incomplete" for p in self.parts_not_marked_incomplete]
            + [f"part {p} complete, seams missing" for p in self.complete_parts_missing_seams]
            + [f"integrity: {i}" for i in self.integrity_failures]
            + self.unsafe_after_kill
        )


class PowerLossRig:
    def __init__(self, cell_config: Path, work: Path, seed: int, time_scale: float = 20.0):
        self.work = work
        self.rng = random.Random(seed)
        work.mkdir(parents=True, exist_ok=True)
        scenario = ScenarioFile(name="powerloss", part="bracket-a12", time_scale=time_scale)
        self.config = prepare_config(cell_config, work, scenario)
        self.database = work / "production.db"
        self.log = work / "controller.log"
        self.sim = SimulatedCell(load_cell_devices(self.config), SimClock(time_scale))
        self.store = StoreView(self.database)
        self.controller = ControllerProcess(self.config, self.log)
        self.report = PowerLossReport()
        self.program_seams = 2  # bracket-a12

    async def run(self, rounds: int) -> PowerLossReport:
        with realtime_process_while(DEVICES_REALTIME_PRIORITY):
            return await self._run(rounds)

    async def _run(self, rounds: int) -> PowerLossReport:
        await self.sim.start()
        try:
            for _ in range(rounds):
                await self._round()
            # One more start, to see the last round's interrupted part marked too.
            interrupted = self._in_progress()
            self.controller.start()
            await self._until(lambda: self._marked(interrupted), "interrupted parts marked", 20)
            self._check_after_restart(final=True, interrupted=interrupted)
        finally:
            await self.controller.stop()
            await self.sim.close()
        return self.report

    async def _round(self) -> None:
        in_progress_before = self._in_progress()
        self.controller.start()
        await self._until(lambda: self._marked(in_progress_before), "interrupted parts marked", 20)
        self._check_after_restart(final=False, interrupted=in_progress_before)
        await self._to_idle()
        # The moment: the rounds take turns at the moments that matter, each at a random
        # point of its own: anywhere in the cycle, during the arc, moving without the arc,
        # and right after a seam's commit (the next record's transaction may be open).
        moment = MOMENTS[self.report.rounds % len(MOMENTS)]
        recorded_before = len(RECORDED.findall(self.log.read_text()))
        deadline = time.monotonic() + self.rng.uniform(0.0, 4.0)
        armed_at: float | None = None
        while True:
            self._alive()
            now = time.monotonic()
            if moment == "anywhere":
                hit = now >= deadline
            elif moment == "arc":
                hit = self.sim.power_source.arc.burning
            elif moment == "motion":
                hit = (self.sim.robot.state is RobotState.MOVING
                       and not self.sim.power_source.arc.burning)  # fmt: skip
            else:
                hit = len(RECORDED.findall(self.log.read_text())) > recorded_before
            if hit and armed_at is None:
                armed_at = now + (0.0 if moment == "anywhere" else self.rng.uniform(0.0, 0.2))
            if armed_at is not None and now >= armed_at:
                break
            if now > deadline + 30:
                raise RuntimeError(f"round {self.report.rounds + 1}: never reached {moment}")
            state = self.store.state()
            if state == "Idle":
                # Let go first: a Start refused (the PLC's watchdog still tripped in the
                # controller's last scan) and pressed again every 0.1 s stayed held for good.
                await let_go(self.sim.plc, "start_button")
                self.sim.plc.set_part_loaded(True)
                self.sim.plc.press("start_button")
                await asyncio.sleep(0.1)
            elif state in ("Aborted", "Stopped", "Held"):
                self.sim.plc.press("reset_button")
                await asyncio.sleep(0.3)
            await asyncio.sleep(0.005)
        await self._kill()

    def _in_progress(self) -> set[int]:
        return {r[0] for r in self.store.query("SELECT id FROM parts WHERE status = 'in_progress'")}

    def _marked(self, interrupted: set[int]) -> bool:
        if not interrupted:
            return self.database.exists()
        rows = self.store.query(
            f"SELECT COUNT(*) FROM parts WHERE status = 'in_progress' AND id IN "
            f"({','.join(str(i) for i in interrupted)})"
        )
        return bool(rows) and rows[0][0] == 0

    def _check_after_restart(self, final: bool, interrupted: set[int] | None = None) -> None:
        for part_id in sorted(interrupted or ()):
            self.report.parts_interrupted += 1
            status = self.store.query("SELECT status FROM parts WHERE id = ?", part_id)
            if status != [("incomplete",)]:
                self.report.parts_not_marked_incomplete.append(part_id)
        if final:
            for (part_id,) in self.store.query(
                "SELECT p.id FROM parts p WHERE p.status = 'complete' AND "
                "(SELECT COUNT(*) FROM seams s WHERE s.part_id = p.id) < ?",
                self.program_seams,
            ):
                self.report.complete_parts_missing_seams.append(part_id)

    async def _kill(self) -> None:
        arc_on = self.sim.power_source.arc.burning
        moving = self.sim.robot.state is RobotState.MOVING
        await self.controller.kill()
        killed_at = time.monotonic()
        self.report.rounds += 1
        self.report.kills_while_arc_on += arc_on
        self.report.kills_while_moving += moving
        # Safe with nobody in charge: the devices' own watchdogs.
        while self.sim.power_source.arc.burning or self.sim.robot.state is RobotState.MOVING:
            if time.monotonic() - killed_at > SAFE_WITHOUT_CONTROLLER_S:
                self.report.unsafe_after_kill.append(
                    f"round {self.report.rounds}: arc {self.sim.power_source.arc.burning}, "
                    f"robot {self.sim.robot.state.name} {SAFE_WITHOUT_CONTROLLER_S:g} s "
                    "after the kill"
                )
                break
            await asyncio.sleep(0.005)
        self.report.safe_after_kill_s.append(time.monotonic() - killed_at)
        # The store as the killed controller left it.
        integrity = self.store.query("PRAGMA integrity_check")
        if integrity != [("ok",)]:
            self.report.integrity_failures.append(f"round {self.report.rounds}: {integrity}")
        said = {(int(m[1]), m[2]) for m in RECORDED.finditer(self.log.read_text())}
        stored = {(r[0], r[1]) for r in self.store.query("SELECT part_id, seam FROM seams")}
        self.report.seams_acknowledged = len(said)
        self.report.seams_lost = sorted(f"part {p} seam {s}" for p, s in said - stored)

    def _alive(self) -> None:
        self.controller.check_alive()

    async def _to_idle(self) -> None:
        """Reset until the cell is Idle and would take a start: the PLC's heartbeat watchdog,
        tripped while no controller ran, clears a moment after the new one's first beat (a
        start before that is refused, and the rounds press start only once)."""

        def ready() -> bool:
            return self.store.state() == "Idle" and not self.sim.plc.logic.watchdog_tripped

        deadline = time.monotonic() + 30
        while not ready():
            self._alive()
            state = self.store.state()  # one read of the store a round, used twice
            if time.monotonic() > deadline:
                raise RuntimeError(f"the controller did not reach Idle ({state})")
            if state != "Idle":
                self.sim.plc.press("reset_button")
            await until_or_after(ready, 0.4)

    async def _until(self, condition, what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            self._alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}")
            await asyncio.sleep(0.05)


async def run_power_loss(
    cell_config: Path, work: Path, rounds: int, seed: int = 1
) -> PowerLossReport:
    return await PowerLossRig(cell_config, work, seed).run(rounds)
