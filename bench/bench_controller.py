"""The controller against the simulated cell: its own overhead per part, and fault reactions.

The controller runs as its own process (``cellctl run``), as on the floor; the simulated cell
runs here, so its ground-truth event log (``sim.events``: what each device heard and did, on
the machine-wide monotonic clock) can be set against the controller's behaviour.

1. Overhead per part, at 1x real time. Every command the controller sends after a device has
   finished something (motion done, arc established, arc out, clamps closed, drives enabled,
   a button pressed) was waited for by the cell: the gap from that event to the command is
   time the cell waited on the controller (its polling, its deciding, its durable record).
   Intended waits (the crater fill's dwell, the drive-enable edge) follow no device event and
   are not counted as overhead, except where noted. Goal: under 1 % of the cycle.

2. Fault to safe reaction, over many injected faults while welding: from the moment the cause
   appears in the field (e-stop, door, light curtain, gas pressure, a power source error) to
   the moment both the power source has heard "arc off" and the robot "hold". Goal: max under
   100 ms. Link losses are reported beside them: their detection waits on a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from pathlib import Path

from bench.stats import goal, percentile
from rigs.cell import write_config
from sim.cell import SimulatedCell
from sim.cellfile import load_cell_devices
from sim.clock import SimClock
from sim.events import SimEvent
from sim.scenario.rig import ControllerProcess, StoreView

OVERHEAD_PARTS = 2
FAULT_ROUNDS = 5  # each kind this many times
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


class Cell:
    """The simulated cell here, the controller in a child process, and an operator."""

    def __init__(self, folder: Path, time_scale: float) -> None:
        self.config = write_config(folder)
        self.database = folder / "production.db"
        self.time_scale = time_scale
        self.sim = SimulatedCell(load_cell_devices(self.config), SimClock(time_scale))
        self.log = folder / "controller.log"
        self.controller = ControllerProcess(self.config, self.log)
        self.store = StoreView(self.database)
        self.query = self.store.query
        self.state = self.store.state

    async def __aenter__(self) -> Cell:
        await self.sim.start()
        self.controller.start()
        await self.until(lambda: self.state() == "Idle", "Idle", press="reset_button")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.controller.stop()
        await self.sim.close()

    def faults(self) -> list[str]:
        rows = self.query(
            "SELECT code FROM faults WHERE cleared_at IS NULL AND severity != ?", "warning"
        )
        return [r[0] for r in rows]

    async def until(self, condition, what: str, timeout_s: float = 60, press: str = "") -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            self.controller.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"waiting for {what}; state {self.state()}")
            if press:
                self.sim.plc.press(press)
                await asyncio.sleep(0.4)
            await asyncio.sleep(0.02)

    async def weld_part(self) -> tuple[float, float]:
        parts_before = self.query("SELECT COUNT(*) FROM parts")[0][0]
        self.sim.plc.set_part_loaded(True)
        started = time.monotonic()
        self.sim.plc.press("start_button")
        await self.until(
            lambda: (
                self.query("SELECT COUNT(*) FROM parts WHERE status='complete'")[0][0]
                > parts_before
            ),
            "the part",
            timeout_s=300,
        )
        ended = time.monotonic()
        await self.until(lambda: self.state() == "Idle", "Idle")
        return started, ended


def overhead_gaps(events: list[SimEvent]) -> list[tuple[str, str, float]]:
    """(device event, the command that answered it, gap s) for every waited-for command."""
    gaps = []
    last_done: SimEvent | None = None
    last_command_at = events[0].at if events else 0.0
    for event in events:
        if event.kind == "done":
            last_done = event
        elif event.kind == "command":
            if last_done is not None and last_done.at >= last_command_at:
                gaps.append(
                    (f"{last_done.device}: {last_done.what}", f"{event.device}: {event.what}",
                     event.at - last_done.at)
                )  # fmt: skip
            last_command_at = event.at
    return gaps


async def measure_overhead(folder: Path) -> dict:
    async with Cell(folder, time_scale=1.0) as cell:
        results = []
        for _ in range(OVERHEAD_PARTS):
            window_start = time.monotonic()
            started, ended = await cell.weld_part()
            events = [e for e in cell.sim.events.since(window_start) if e.at <= ended]
            gaps = overhead_gaps(events)
            cycle_s = ended - started
            waited_s = sum(gap for *_, gap in gaps)
            results.append({"cycle_s": cycle_s, "waited_s": waited_s, "gaps": gaps})
    return {"parts": results}


async def inject_and_time(cell: Cell, inject, remove, label: str) -> float | None:
    """Weld until the arc burns mid-seam, inject, and time the reaction from the field."""
    cell.sim.plc.set_part_loaded(True)
    cell.sim.plc.press("start_button")
    await cell.until(lambda: cell.sim.power_source.arc.burning, f"the arc ({label})")
    await asyncio.sleep(0.15)
    cause_at = time.monotonic()
    inject(cell)
    arc_off_at = hold_at = None
    deadline = time.monotonic() + 5
    while (arc_off_at is None or hold_at is None) and time.monotonic() < deadline:
        for event in cell.sim.events.since(cause_at):
            if event.device == "power_source" and event.what == "arc_on=False":
                arc_off_at = arc_off_at or event.at
            if event.device == "robot" and event.what == "HOLD":
                hold_at = hold_at or event.at
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)
    remove(cell)
    # Recovery as an operator does it: reset until no fault is left, then Start/Unhold, and
    # let the part finish (a held part resumes; an aborted one is replaced by a new part).
    await cell.until(lambda: not cell.faults(), "faults cleared", press="reset_button")
    await cell.until(lambda: cell.state() in ("Idle", "Held"), "Idle or Held", press="reset_button")
    if cell.state() == "Held":
        cell.sim.plc.press("start_button")
    await cell.until(lambda: cell.state() == "Idle", "the part to finish", timeout_s=120)
    if arc_off_at is None or hold_at is None:
        return None
    return max(arc_off_at, hold_at) - cause_at


def _plc(setter: str, on: object, off: object):
    return (lambda c: getattr(c.sim.plc, setter)(on), lambda c: getattr(c.sim.plc, setter)(off))


FIELD_FAULTS = {
    "e-stop": _plc("set_estop", True, False),
    "door opened": _plc("set_door_open", True, False),
    "light curtain": _plc("set_light_curtain_blocked", True, False),
    "gas pressure low": _plc("set_gas_pressure_bar", 0.8, 4.5),
    "power source error": (
        lambda c: c.sim.power_source.inject("error:106"),
        lambda c: c.sim.power_source.clear_faults(),
    ),
}


async def measure_reactions(folder: Path) -> dict:
    timings: dict[str, list[float]] = {name: [] for name in FIELD_FAULTS}
    missing: list[str] = []
    async with Cell(folder, time_scale=10.0) as cell:
        for _ in range(FAULT_ROUNDS):
            for name, (inject, remove) in FIELD_FAULTS.items():
                reaction = await inject_and_time(cell, inject, remove, name)
                if reaction is None:
                    missing.append(name)
                else:
                    timings[name].append(reaction)
        recorded = cell.query("SELECT reaction_ms FROM faults WHERE reaction_ms IS NOT NULL")
    return {
        "field": timings,
        "missing": missing,
        "controller_recorded_ms": [r[0] for r in recorded],
    }


def main() -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-controller-") as name:
        overhead = asyncio.run(measure_overhead(Path(name) / "overhead"))
        reactions = asyncio.run(measure_reactions(Path(name) / "reactions"))
    figures: dict = {}
    print(f"Controller overhead per part at 1x (bracket-a12, {OVERHEAD_PARTS} parts):")
    all_gaps: dict[str, list[float]] = {}
    for number, part in enumerate(overhead["parts"], start=1):
        share = part["waited_s"] / part["cycle_s"] * 100
        print(
            f"  part {number}: cycle {part['cycle_s']:.2f} s, waited on the controller "
            f"{part['waited_s'] * 1e3:.0f} ms in {len(part['gaps'])} hand-overs = {share:.2f} %"
        )
        for done, command, gap in part["gaps"]:
            all_gaps.setdefault(f"{done} -> {command}", []).append(gap)
    worst = sorted(all_gaps.items(), key=lambda item: -sum(item[1]))[:6]
    print("  largest hand-overs (mean ms):")
    for label, gaps in worst:
        print(f"    {sum(gaps) / len(gaps) * 1e3:7.1f}  {label}")
    shares = [p["waited_s"] / p["cycle_s"] * 100 for p in overhead["parts"]]
    figures["overhead_share_pct"] = max(shares)
    figures["cycle_time_s"] = [p["cycle_s"] for p in overhead["parts"]]
    print(
        goal("controller overhead under 1% of the cycle", max(shares) < 1, f"{max(shares):.2f} %")
    )

    field = [t for values in reactions["field"].values() for t in values]
    figures["reaction_ms"] = {
        "n": len(field),
        "p50": percentile(field, 0.5) * 1e3,
        "p99": percentile(field, 0.99) * 1e3,
        "max": max(field) * 1e3,
        "by_fault_max_ms": {k: max(v) * 1e3 for k, v in reactions["field"].items() if v},
        "missing": reactions["missing"],
    }
    print(
        f"\nFault cause to arc off + hold at the devices ({len(field)} faults while welding, 10x):"
    )
    for fault, values in reactions["field"].items():
        if values:
            print(
                f"  {fault:<20} n={len(values):<3} p50 {percentile(values, 0.5) * 1e3:6.1f} ms  "
                f"max {max(values) * 1e3:6.1f} ms"
            )
    r = figures["reaction_ms"]
    print(f"  all: p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, max {r['max']:.1f} ms")
    if reactions["missing"]:
        print(f"  no reaction seen for: {reactions['missing']}")
    recorded = reactions["controller_recorded_ms"]
    print(
        f"  the controller's own record (cause seen to both acknowledged): p50 "
        f"{percentile(recorded, 0.5):.1f} ms, max {max(recorded):.1f} ms"
    )
    met = r["max"] < 100 and not reactions["missing"]
    print(goal("fault to safe reaction, max under 100 ms", met, f"max {r['max']:.1f} ms"))
    return figures


if __name__ == "__main__":
    main()
