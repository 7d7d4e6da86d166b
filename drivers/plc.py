"""The cell PLC over Modbus (TCP, or RTU with the same register map).

The PLC owns the fixture, the door, the e-stop chain, the light curtain, the operator's buttons
and the stack light; the controller sees them as named inputs and commands them through named
outputs of the register map in the cell config. This driver keeps three things:

- the input image: ``read_inputs()`` reads every mapped input in as few requests as the map
  allows (contiguous signals coalesced, at most 125 registers a request) and decodes them;
- the output image: ``write_output(s)`` writes only outputs the map names, refusing anything
  else before it reaches the wire. Bits that share a word are written as the whole word from the
  image, which is read back from the PLC after every (re)connect so that a restarted controller
  does not clear bits it has not yet decided about;
- the heartbeat: a counter written to the heartbeat output every ``heartbeat.period_ms`` on
  absolute deadlines, which the PLC's watchdog watches. If it stops, the PLC drops robot enable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from drivers.errors import DeviceError, SignalValueError, WriteRefused
from drivers.link import LinkState, LinkStats
from drivers.modbus_link import ModbusLink, WireTap
from drivers.modbus_map import (
    MODBUS_MAX_WRITE_REGISTERS,
    InputScan,
    RegisterTable,
    SignalValue,
    decode_signal,
    encode_signal,
    plan_reads,
)
from drivers.settings import PlcSettings

log = logging.getLogger(__name__)


@dataclass
class HeartbeatStats:
    """How well the heartbeat kept its beat (lateness against its absolute deadlines)."""

    beats_written: int = 0
    beats_failed: int = 0
    beats_skipped: int = 0  # link down at the deadline
    last_value: int = 0
    max_lateness_s: float = 0.0


class PlcDriver:
    """The cell PLC: input image, output image and heartbeat, over one Modbus link."""

    def __init__(
        self, settings: PlcSettings, device: str = "plc", wire_tap: WireTap | None = None
    ) -> None:
        self.settings = settings
        self.device = device
        self.registers = settings.registers
        self.link = ModbusLink(device, settings.link, wire_tap)
        self.link.on_state_change = self._on_link_state
        self._scan = InputScan(self.registers)
        self._allowed = self.registers.output_registers()
        # Output image: register address -> last value written or read back from the PLC.
        self._image: dict[int, int] = {}
        self._image_synced = False
        self._heartbeat_task: asyncio.Task[None] | None = None
        self.heartbeat = HeartbeatStats()
        self.inputs: dict[str, SignalValue] = {}
        self.inputs_read_at: float | None = None  # time.monotonic() of the last full scan

    # -- life cycle -----------------------------------------------------------------------

    @property
    def stats(self) -> LinkStats:
        return self.link.stats

    @property
    def connected(self) -> bool:
        return self.link.connected

    @property
    def address(self) -> str:
        return self.link.address

    async def connect(self, heartbeat: bool = True) -> None:
        """Start the link (see ``ModbusLink.connect``) and, unless told not to, the heartbeat."""
        await self.link.connect()
        if heartbeat and self._heartbeat_task is None:
            self._heartbeat_task = asyncio.create_task(
                self._beat(), name=f"{self.device} heartbeat"
            )

    async def wait_connected(self, timeout_s: float) -> None:
        await self.link.wait_connected(timeout_s)

    async def close(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
            self._heartbeat_task = None
        await self.link.close()

    def _on_link_state(self, state: LinkState) -> None:
        if state is not LinkState.UP:
            # Whatever the PLC holds now may differ from our image (it may have restarted).
            self._image_synced = False

    # -- inputs ---------------------------------------------------------------------------

    @property
    def input_blocks(self) -> int:
        """Requests one full input scan takes."""
        return len(self._scan.blocks)

    async def read_inputs(self) -> dict[str, SignalValue]:
        """Read and decode every mapped input. Raises a ``DeviceError`` if any block fails."""
        table = self.registers.input_table
        blocks = [
            await self.link.read_registers(table, block.start, block.count)
            for block in self._scan.blocks
        ]
        self.inputs = self._scan.decode(blocks)
        self.inputs_read_at = time.monotonic()
        return self.inputs

    # -- outputs --------------------------------------------------------------------------

    async def write_output(self, name: str, value: SignalValue) -> None:
        await self.write_outputs({name: value})

    async def write_outputs(self, values: Mapping[str, SignalValue]) -> None:
        """Write named outputs; contiguous registers go out together in one request.

        Every name must be an output of the map and every value must fit its signal, else
        ``WriteRefused`` is raised and nothing at all is sent. The output image changes only
        for registers the PLC acknowledged.
        """
        unknown = [name for name in values if name not in self.registers.outputs]
        if unknown:
            self.stats.refused_writes += 1
            error = WriteRefused(
                self.device,
                self.address,
                f"write to {', '.join(unknown)} refused: not an output in the register map "
                f"(outputs: {', '.join(self.registers.outputs)}); nothing was sent",
            )
            self.stats.record_error(error)
            raise error
        await self._sync_image_for(values)
        staged = dict(self._image)
        for name, value in values.items():
            signal = self.registers.outputs[name]
            try:
                words = encode_signal(name, signal, value, staged.get(signal.address, 0))
            except SignalValueError as bad:
                self.stats.refused_writes += 1
                error = WriteRefused(
                    self.device, f"{self.address} register {signal.address}", str(bad)
                )
                self.stats.record_error(error)
                raise error from bad
            for offset, word in enumerate(words):
                staged[signal.address + offset] = word
        touched = sorted({r for name in values for r in self.registers.outputs[name].registers})
        for start, words in _runs(touched, staged):
            await self.link.write_registers(start, words, self._allowed)
            for offset, word in enumerate(words):
                self._image[start + offset] = word

    def output_value(self, name: str) -> SignalValue | None:
        """An output's value in the image (what was last written or read back), if known."""
        signal = self.registers.outputs[name]
        words = [self._image.get(r) for r in signal.registers]
        if any(w is None for w in words):
            return None
        return decode_signal(signal, [w for w in words if w is not None])

    async def _sync_image_for(self, values: Mapping[str, SignalValue]) -> None:
        """Read back the output words that hold bits we are about to change but did not write.

        After a (re)connect the image is stale; a bit written as part of a whole word would
        otherwise clear its neighbours.
        """
        if self._image_synced:
            return
        shared_words = {
            self.registers.outputs[name].address
            for name in values
            if self.registers.outputs[name].bit is not None
        }
        if not shared_words:
            return
        await self.read_back_outputs()

    async def read_back_outputs(self) -> None:
        """Read every output register from the PLC into the image."""
        blocks = plan_reads(self.registers.outputs.values(), self.registers.max_registers_per_read)
        for block in blocks:
            words = await self.link.read_registers(RegisterTable.HOLDING, block.start, block.count)
            for offset, word in enumerate(words):
                self._image[block.start + offset] = word
        self._image_synced = True

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


def _runs(addresses: list[int], image: Mapping[int, int]) -> list[tuple[int, list[int]]]:
    """Group sorted register addresses into contiguous runs with their values from ``image``."""
    runs: list[tuple[int, list[int]]] = []
    for address in addresses:
        if (
            runs
            and runs[-1][0] + len(runs[-1][1]) == address
            and (len(runs[-1][1]) < MODBUS_MAX_WRITE_REGISTERS)
        ):
            runs[-1][1].append(image[address])
        else:
            runs.append((address, [image[address]]))
    return runs
