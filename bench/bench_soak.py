"""Soak: hours of simulated production at a raised time scale, with a fault injected every few
parts, against a real `cellctl run` process (the scenario runner's operator does the resets).

Measured on the controller process, from the kernel: resident memory (growth after warm-up;
goal under 5 %), and from its own health lines: asyncio tasks, threads, open files (goal: no
growth), and the longest garbage collection (every thread stops for it). Records: every seam
the controller said it recorded is in the store, every part started is accounted for,
integrity_check ok.

`python -m bench soak` runs 1 simulated hour (a few minutes); SOAK_HOURS=10 for the full run.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from bench.stats import goal
from sim.scenario.runner import ScenarioFile, ScenarioRunner

REPO = Path(__file__).resolve().parent.parent
HOURS = float(os.environ.get("SOAK_HOURS", "1"))
TIME_SCALE = 20.0
PART = "bracket-a12"
PART_CYCLE_S = 50.0  # its planned cycle time at 1x
FAULT_EVERY_PARTS = 5
# (cause, clearing verb or None when the operator's reset is enough, phase to strike in)
FAULTS = [
    ("door_open", "door_close", "welding"),
    ("arc_break", None, "welding"),
    ("link_cut plc", "link_restore plc", "approach"),
    ("estop", "estop_release", "crater fill"),
    ("gas_fault", "power_source_clear", "welding"),
    ("stall robot", "wire_clear robot", "welding"),
    ("light_curtain_block", "light_curtain_clear", "retract"),
    ("link_cut power_source", "link_restore power_source", "welding"),
    ("corrupt plc 1", None, "welding"),
    ("modbus_exception power_source 6", "modbus_exception_clear power_source", "welding"),
]
HEALTH = re.compile(
    r"health: (\d+) tasks, (\d+) threads, (-?\d+) open files in (\w+)"
    r"(?:; longest garbage collection ([\d.]+) ms)?"
)
RECORDED = re.compile(r"part (\d+) seam (\S+) recorded")


def soak_scenario(parts: int) -> ScenarioFile:
    events = []
    for number, part in enumerate(range(3, parts, FAULT_EVERY_PARTS)):
        cause, clear, phase = FAULTS[number % len(FAULTS)]
        events.append({"at": {"part": part, "seam": 1, "phase": phase, "delay_s": 0.1},
                       "do": cause})  # fmt: skip
        if clear:
            events.append({"at": {"after_event": len(events) - 1, "delay_s": 0.6}, "do": clear})
    return ScenarioFile.model_validate({
        "name": f"soak-{HOURS:g}h",
        "part": PART,
        "parts": parts,
        "time_scale": TIME_SCALE,
        "timeout_s": parts * PART_CYCLE_S / TIME_SCALE * 3 + 120,
        "config": {"controller": {"health_log_period_s": 5}},
        "events": events,
        "expect": {"no_other_faults": False, "reaction_within_ms": 500},
    })  # fmt: skip


class SoakRunner(ScenarioRunner):
    """The scenario runner, sampling the controller's resident memory once a second."""

    rss_kib: list[tuple[float, int]]

    async def _produce(self) -> None:
        self.rss_kib = []
        sampler = asyncio.create_task(self._sample())
        try:
            await super()._produce()
        finally:
            sampler.cancel()

    async def _sample(self) -> None:
        while True:
            if self.controller is not None and self.controller.running:
                status = Path(f"/proc/{self.controller.pid}/status").read_text()  # noqa: ASYNC240 (procfs, never blocks)
                rss = int(re.search(r"VmRSS:\s+(\d+)", status)[1])
                self.rss_kib.append((time.monotonic(), rss))
            await asyncio.sleep(1.0)


def main() -> dict:
    parts = max(10, round(HOURS * 3600 / PART_CYCLE_S))
    scenario = soak_scenario(parts)
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as name:
        work = Path(name)
        runner = SoakRunner(scenario, Path("soak"), REPO / "config" / "cell.yaml", work)
        result = asyncio.run(runner.run())
        log = runner.log.read_text()
        said = {(int(m[1]), m[2]) for m in RECORDED.finditer(log)}
        stored = {(r[0], r[1]) for r in runner.query("SELECT part_id, seam FROM seams")}
        part_rows = runner.query("SELECT status FROM parts")
    lost = said - stored
    in_progress = sum(1 for (s,) in part_rows if s == "in_progress")
    samples = [rss for _, rss in runner.rss_kib]
    tenth = max(1, len(samples) // 10)
    warm = statistics.mean(samples[tenth : 2 * tenth]) if len(samples) >= 3 else float("nan")
    last = statistics.mean(samples[-tenth:]) if samples else float("nan")
    growth_pct = (last - warm) / warm * 100
    # Tasks come and go with the state (a cycle runs its own): compare like with like, the
    # most seen in each state after warm-up against the most seen in it in the last third.
    health = [(*map(int, m.groups()[:3]), m[4]) for m in HEALTH.finditer(log)]
    third = max(1, len(health) // 3)
    early, late = health[third : 2 * third] or health, health[-third:]
    grew: dict[str, tuple[int, int]] = {}
    for i, what in enumerate(("tasks", "threads", "open files")):
        for state in sorted({h[3] for h in early} & {h[3] for h in late}):
            grew[f"{what} in {state}"] = (
                max(h[i] for h in early if h[3] == state),
                max(h[i] for h in late if h[3] == state),
            )
    # Each stops every thread of the controller, the correction stream's too.
    pauses_ms = [float(m[5]) for m in HEALTH.finditer(log) if m[5] is not None]
    longest_pause_ms = max(pauses_ms, default=float("nan"))
    causes = {cause for cause, _, _ in FAULTS}
    faults = sum(1 for e in scenario.events if e.do in causes)
    reactions = [c for c in result.checks if c.name.startswith("reaction to")]
    slow = [c for c in reactions if not c.passed]
    unsafe = [c for c in result.checks if c.name.startswith("only safe") and not c.passed]
    took_s = result.duration_s
    print(f"Soak: {parts} parts of {PART} = {parts * PART_CYCLE_S / 3600:.1f} simulated hours "
          f"at {TIME_SCALE:g}x in {took_s / 60:.1f} min, {faults} faults injected")  # fmt: skip
    if result.error:
        print(f"  the run did not finish: {result.error}")
    print(f"  parts in the store: {len(part_rows)}, still in progress: {in_progress}")
    print(f"  seams acknowledged {len(said)}, lost {len(lost)}")
    print(f"  controller RSS: warm {warm / 1024:.1f} MiB -> end {last / 1024:.1f} MiB "
          f"({growth_pct:+.2f} %), {len(samples)} samples")  # fmt: skip
    for what, (before, after) in grew.items():
        print(f"  {what}: {before} after warm-up, {after} at the end")
    print(f"  longest garbage collection in the controller: {longest_pause_ms:.1f} ms "
          f"(over {len(pauses_ms)} health lines)")  # fmt: skip
    print(f"  faults judged: {len(reactions)}, reaction over 500 ms: {len(slow)}, "
          f"unsafe commands before the operator: {len(unsafe)}")  # fmt: skip
    print(goal("RSS growth after warm-up under 5 %", growth_pct < 5, f"{growth_pct:+.2f} %"))
    print(goal("no growth of tasks, threads, files", all(a <= b for b, a in grew.values()),
               str(grew)))  # fmt: skip
    print(goal("no lost records", not lost and in_progress == 0 and not result.error,
               f"{len(lost)} seams lost"))  # fmt: skip
    for check in slow + unsafe:
        print(f"    {check.name}: {check.detail}")
    return {
        "hours_simulated": parts * PART_CYCLE_S / 3600,
        "parts": len(part_rows),
        "faults_injected": faults,
        "rss_growth_pct": growth_pct,
        "health_early_late": grew,
        "longest_gc_pause_ms": longest_pause_ms,
        "seams_lost": len(lost),
        "reactions_over_bound": len(slow),
        "unsafe": len(unsafe),
        "error": result.error,
        "checks_failed": [f"{c.name}: {c.detail}" for c in result.checks if not c.passed],
    }
