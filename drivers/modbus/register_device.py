"""A Modbus device described by a register map: its input image and its output image.

The PLC and the welding power source are both this: named inputs read in as few requests as the
map allows (contiguous signals coalesced, at most 125 registers a request) and named outputs
written only where the map allows, refused before the wire otherwise. Bits that share a word
are written as the whole word from the output image, which is read back from the device after
every (re)connect, so that a restarted controller never clears bits it has not decided about.
The device drivers (``drivers.plc``, ``drivers.power_source``) add only their meaning.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Set
from typing import NoReturn

from drivers.codecs.modbus_map import (
    MODBUS_MAX_WRITE_REGISTERS,
    InputScan,
    RegisterMap,
    RegisterTable,
    SignalValue,
    decode_signal,
    encode_signal,
    plan_reads,
)
from drivers.codecs.settings import ModbusLinkSettings
from drivers.errors import SignalValueError, WriteRefused
from drivers.link import LinkState, LinkStats
from drivers.modbus.link import ModbusLink, WireTap

MAX_BRIDGED_REGISTERS = 4


class RegisterDevice:
    """Input image, output image and the link of one register-mapped Modbus device."""

    def __init__(
        self,
        device: str,
        link: ModbusLinkSettings,
        registers: RegisterMap,
        wire_tap: WireTap | None = None,
    ) -> None:
        self.device = device
        self.registers = registers
        self.link = ModbusLink(device, link, wire_tap)
        self.link.add_state_listener(self._on_link_state)
        self._scan = InputScan(registers)
        self._allowed = registers.output_registers()
        # Output image: register address -> last value written or read back from the device.
        self._image: dict[int, int] = {}
        self._image_synced = False
        self._write_lock = asyncio.Lock()  # write_outputs: one staging and write at a time
        self.inputs: dict[str, SignalValue] = {}
        self.inputs_read_at: float | None = None  # time.monotonic() of the last full scan

    @property
    def stats(self) -> LinkStats:
        return self.link.stats

    @property
    def connected(self) -> bool:
        return self.link.connected

    @property
    def address(self) -> str:
        return self.link.address

    async def wait_connected(self, timeout_s: float) -> None:
        await self.link.wait_connected(timeout_s)

    def _on_link_state(self, state: LinkState) -> None:
        if state is not LinkState.UP:
            # Whatever the device holds now may differ from our image (it may have restarted).
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
        for registers the device acknowledged.
        """
        unknown = [name for name in values if name not in self.registers.outputs]
        if unknown:
            self._refuse(
                self.address,
                f"write to {', '.join(unknown)} refused: not an output in the register map "
                f"(outputs: {', '.join(self.registers.outputs)}); nothing was sent",
            )
        # One write at a time, staged from the image the last one left: two writers staging
        # bits of one word from the same image would each send the other's bits as they were
        # before (a hold's word sent after a stop's cleared the stop again).
        async with self._write_lock:
            await self._sync_image_for(values)
            staged = dict(self._image)
            for name, value in values.items():
                signal = self.registers.outputs[name]
                try:
                    words = encode_signal(name, signal, value, staged.get(signal.address, 0))
                except SignalValueError as bad:
                    self._refuse(
                        f"{self.address} register {signal.address}", f"{bad}; nothing was sent"
                    )
                for offset, word in enumerate(words):
                    staged[signal.address + offset] = word
            touched = sorted({r for name in values for r in self.registers.outputs[name].registers})
            bridgeable = self._image.keys() & self._allowed
            for start, words in _runs(touched, staged, bridgeable=bridgeable):
                await self.link.write_registers(start, words, self._allowed)
                for offset, word in enumerate(words):
                    self._image[start + offset] = word

    def _refuse(self, where: str, message: str) -> NoReturn:
        error = WriteRefused(self.device, where, message)
        self.stats.record_refusal(error)
        raise error

    def output_value(self, name: str) -> SignalValue | None:
        """An output's value in the image (what was last written or read back), if known."""
        signal = self.registers.outputs[name]
        words = [self._image.get(r) for r in signal.registers]
        if any(w is None for w in words):
            return None
        return decode_signal(signal, [w for w in words if w is not None])

    async def _sync_image_for(self, values: Mapping[str, SignalValue]) -> None:
        """Read back the output words before changing one bit of them, once per connection."""
        if self._image_synced:
            return
        if any(self.registers.outputs[name].bit is not None for name in values):
            await self.read_back_outputs()

    async def read_back_outputs(self) -> None:
        """Read every output register from the device into the image."""
        blocks = plan_reads(self.registers.outputs.values(), self.registers.max_registers_per_read)
        for block in blocks:
            words = await self.link.read_registers(RegisterTable.HOLDING, block.start, block.count)
            for offset, word in enumerate(words):
                self._image[block.start + offset] = word
        self._image_synced = True


def _runs(
    addresses: list[int], image: Mapping[int, int], bridgeable: Set[int] = frozenset()
) -> list[tuple[int, list[int]]]:
    """Group sorted register addresses into contiguous runs with their values from ``image``.

    A gap of up to ``MAX_BRIDGED_REGISTERS`` registers joins two runs when every register in it
    is ``bridgeable`` (an output whose value the image knows: writing it again changes nothing),
    so that e.g. a command word and the setpoints after it go out in one request.
    """
    runs: list[tuple[int, list[int]]] = []
    for address in addresses:
        if runs:
            start, words = runs[-1]
            gap = range(start + len(words), address)
            fits = len(words) + len(gap) < MODBUS_MAX_WRITE_REGISTERS
            if fits and len(gap) <= MAX_BRIDGED_REGISTERS and all(r in bridgeable for r in gap):
                words.extend(image[r] for r in gap)
                words.append(image[address])
                continue
        runs.append((address, [image[address]]))
    return runs
