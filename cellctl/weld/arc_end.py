"""The end of a seam's arc, as every weld cycle does it (the serial cycle,
``cellctl.weld.cycle``, and the robot-owned one, ``cellctl.weld.owned_cycle``): the crater
filled at the procedure's reduced parameters, sampled into the seam's monitor, then the arc
switched off and its going out awaited.

Each cycle hands in how it talks to the power source (``ArcEndLink``): how a status is read and
a command sent (with the cycle's own fault mapping of a lost link), and what a power-source
error or an arc that will not go out is (the cycle reports the fault and raises). This module
decides nothing about faults.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cellctl.config.models import CraterFill
from cellctl.weld.monitoring import SeamMonitor
from drivers.codecs.power_source_protocol import PowerSourceStatus
from drivers.power_source import PowerSourceDriver

ARC_OFF_TIMEOUT_S = 1.0  # after arc off, the current must have stopped within this


@dataclass(frozen=True)
class ArcEndLink:
    """How a cycle talks to its power source at the arc's end.

    ``status()`` reads one status; ``command(request)`` awaits a command (both raise, or report
    and raise, as the cycle does for a lost link); ``error(status)`` is called for a status with
    the power source's own error and must raise; ``still_burning()`` is called when the arc
    burns ``ARC_OFF_TIMEOUT_S`` after arc off and must raise."""

    power_source: PowerSourceDriver
    status: Callable[[], Awaitable[PowerSourceStatus]]
    command: Callable[[Awaitable[Any]], Awaitable[Any]]
    error: Callable[[PowerSourceStatus], None]
    still_burning: Callable[[], None]
    sample_period_s: float


async def fill_crater(link: ArcEndLink, crater: CraterFill, monitor: SeamMonitor) -> None:
    """Hold the crater's parameters for its time, sampling the arc (outside the bands: a
    crater's current is meant to be low)."""
    await link.command(
        link.power_source.set_setpoints(
            crater.current_a, crater.voltage_v, crater.wire_feed_m_per_min
        )
    )
    end = time.monotonic() + crater.time_ms / 1000
    while time.monotonic() < end:
        power = await link.status()
        if power.error:
            link.error(power)
        if power.arc_established:
            monitor.add(
                time.monotonic(),
                power.actual_current_a,
                power.actual_voltage_v,
                power.actual_wire_feed_m_per_min,
                check_band=False,
            )
        await asyncio.sleep(link.sample_period_s)


async def switch_arc_off(link: ArcEndLink) -> None:
    """Arc off, then wait until neither an arc nor a current is left."""
    await link.command(link.power_source.arc_off())
    deadline = time.monotonic() + ARC_OFF_TIMEOUT_S
    while True:
        power = await link.status()
        if power.error:
            link.error(power)
        if not power.arc_established and not power.current_flowing:
            return
        if time.monotonic() > deadline:
            link.still_burning()
        await asyncio.sleep(link.sample_period_s)
