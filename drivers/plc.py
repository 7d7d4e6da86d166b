"""The cell PLC over Modbus (TCP, or RTU with the same register map).

The PLC owns the fixture, the door, the e-stop chain, the light curtain, the operator's buttons
and the stack light; the controller sees them as named inputs and commands them through named
outputs of the register map in the cell config (``drivers.modbus.register_device`` keeps both images
and refuses writes the map does not allow). On top, this driver keeps the heartbeat: a counter
written to the heartbeat output every ``heartbeat.period_ms`` on absolute deadlines, which the
PLC's watchdog watches. If it stops, the PLC drops robot enable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from drivers.codecs.settings import PlcSettings
from drivers.errors import DeviceError
from drivers.modbus.link import WireTap
from drivers.modbus.register_device import RegisterDevice

log = logging.getLogger(__name__)


@dataclass
class HeartbeatStats:
    """How well the heartbeat kept its beat (lateness against its absolute deadlines)."""

    beats_written: int = 0
    beats_failed: int = 0
    beats_skipped: int = 0  # link down at the deadline
    last_value: int = 0
    max_lateness_s: float = 0.0


class PlcDriver(RegisterDevice):
    """The cell PLC: input image, output image and heartbeat, over one Modbus link."""

    def __init__(
        self, settings: PlcSettings, device: str = "plc", wire_tap: WireTap | None = None
    ) -> None:
        super().__init__(device, settings.link, settings.registers, wire_tap)
        self.settings = settings
        self._heartbeat_task: asyncio.Task[None] | None = None
        self.heartbeat = HeartbeatStats()

    async def connect(self, heartbeat: bool = True) -> None:
        """Start the link (see ``ModbusLink.connect``) and, unless told not to, the heartbeat."""
        await self.link.connect()
        if heartbeat and self._heartbeat_task is None:
            self._heartbeat_task = asyncio.create_task(
                self._beat(), name=f"{self.device} heartbeat"
            )

    async def close(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
            self._heartbeat_task = None
        await self.link.close()

    # -- heartbeat ------------------------------------------------------------------------

    async def _beat(self) -> None:
        """Count the heartbeat output up once a period, on absolute deadlines (no drift)."""
        period_s = self.settings.heartbeat.period_ms / 1000
        name = self.settings.heartbeat.output
        signal = self.registers.outputs[name]
        deadline = time.monotonic()
        while True:
            deadline += period_s
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
            lateness_s = time.monotonic() - deadline
            if lateness_s > period_s:
                # We fell behind (a stalled loop); beat now and realign instead of bursting.
                deadline = time.monotonic()
            self.heartbeat.max_lateness_s = max(self.heartbeat.max_lateness_s, lateness_s)
            if not self.link.connected:
                self.heartbeat.beats_skipped += 1
                continue
            value = (self.heartbeat.last_value + 1) & 0xFFFF
            try:
                await self.link.write_registers(signal.address, [value], self._allowed)
            except DeviceError as error:
                self.heartbeat.beats_failed += 1
                log.debug("%s heartbeat not written: %s", self.device, error)
                continue
            self._image[signal.address] = value
            self.heartbeat.last_value = value
            self.heartbeat.beats_written += 1
