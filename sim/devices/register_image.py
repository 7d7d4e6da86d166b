"""The register space of a simulated Modbus device, laid out from its register map.

The simulated PLC and power source are pymodbus servers whose registers mirror a device model.
This class builds the pymodbus ``SimDevice`` from the same ``RegisterMap`` the controller uses:
the input area read-only, the output registers writable, every other address answering
exception 2 (illegal data address), as a real device's does. Its ``action`` hook (pymodbus calls
it on every request) refreshes the inputs from the model before a read, and hands each write to
the model. Its wire tap applies the injected wire faults to every answer and keeps the device
silent for other unit ids on a shared RS-485 line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData, SimDevice

from drivers.codecs.modbus_map import (
    RegisterMap,
    RegisterTable,
    SignalValue,
    decode_signal,
    encode_signal,
)
from sim.wire.faults import WireFaults


class RegisterImage:
    def __init__(
        self,
        registers: RegisterMap,
        unit_id: int,
        input_values: Callable[[], dict[str, SignalValue]],
        on_write: Callable[[int, list[int]], None],
        rtu: bool = False,
        accept_write: Callable[[int, list[int]], bool] | None = None,
    ) -> None:
        self.registers = registers
        self.unit_id = unit_id
        self.input_values = input_values
        self.on_write = on_write
        self.accept_write = accept_write
        self.rtu = rtu
        self.faults = WireFaults()
        self.exception_code: int | None = None  # answer every request with this exception
        self.requests_seen = 0
        self.writes_seen: list[tuple[int, list[int]]] = []  # (address, values), newest last
        self.answers_withheld_for_other_units = 0
        self.outputs: dict[int, int] = {r: 0 for r in registers.output_registers()}

    def device(self) -> SimDevice:
        """The pymodbus device: the input area read-only, the output registers writable.

        Inputs in the input table and outputs in the holding table are separate spaces (an
        address may be used in both); a map whose inputs are holding registers shares one.
        """
        inputs = list(self.registers.inputs.values())
        input_area = []
        if inputs:
            start = min(s.address for s in inputs)
            end = max(s.address + s.register_count for s in inputs)
            input_area.append(
                SimData(start, values=[0] * (end - start), datatype=DataType.REGISTERS,
                        readonly=True)
            )  # fmt: skip
        outputs = [
            SimData(address, values=0, datatype=DataType.REGISTERS)
            for address in sorted(self.outputs)
        ]
        if self.registers.input_table is RegisterTable.HOLDING:
            for block in input_area:
                block.readonly = False  # writes are refused by address in the hook instead
            shared = sorted(input_area + outputs, key=lambda block: block.address)
            return SimDevice(self.unit_id, simdata=shared, action=self._on_access)
        # pymodbus wants every table non-empty: 16 unused coils and discrete inputs, and a
        # single invalid register where a table has nothing.
        no_bits = [SimData(0, values=[False] * 16, datatype=DataType.BITS, readonly=True)]
        nothing = [SimData(0, datatype=DataType.INVALID)]
        return SimDevice(
            self.unit_id,
            simdata=(no_bits, list(no_bits), outputs or nothing, input_area or nothing),
            action=self._on_access,
        )

    def output(self, name: str) -> SignalValue:
        """An output's value as the controller last wrote it."""
        signal = self.registers.outputs[name]
        return decode_signal(signal, [self.outputs[r] for r in signal.registers])

    def input_words(self) -> dict[int, int]:
        """The input image as register words (bits of one word combined)."""
        words: dict[int, int] = {}
        for name, value in self.input_values().items():
            signal = self.registers.inputs[name]
            encoded = encode_signal(name, signal, value, words.get(signal.address, 0))
            for offset, word in enumerate(encoded):
                words[signal.address + offset] = word
        return words

    def wire_tap(self, sending: bool, data: bytes) -> bytes:
        """pymodbus's trace_packet: every frame in and out passes here."""
        if not sending:
            return data
        if self.rtu and data and data[0] != self.unit_id:
            # pymodbus answers unknown unit ids with an exception; a device on a multi-drop line
            # must stay silent so that the unit that is meant can answer.
            self.answers_withheld_for_other_units += 1
            return b""
        return self.faults.apply(data)

    async def _on_access(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Called by pymodbus for every request: answer from (and into) the model's images."""
        if function_code in (6, 16) and set_values is None:
            # pymodbus reads a write's registers back for its echo: the same request, already
            # delayed and counted (a DELAY fault late twice over would time out every write).
            return None
        self.requests_seen += 1
        delay_s = self.faults.pending_delay_s()
        if delay_s:
            await asyncio.sleep(delay_s)
        if self.exception_code is not None:
            return ExcCodes(self.exception_code)
        if set_values is not None and function_code in (6, 16):
            if any(address + i not in self.outputs for i in range(len(set_values))):
                return ExcCodes.ILLEGAL_ADDRESS
            words = [int(v) for v in set_values]
            if self.accept_write is not None and not self.accept_write(address, words):
                return ExcCodes.ILLEGAL_VALUE
            self.writes_seen.append((address, words))
            del self.writes_seen[:-1000]
            for offset, word in enumerate(words):
                self.outputs[address + offset] = word
            self.on_write(address, words)
            return None
        if function_code == 4:
            images = self.input_words()
        elif self.registers.input_table is RegisterTable.HOLDING:
            images = {**self.input_words(), **self.outputs}
        else:
            images = self.outputs
        for register, word in images.items():
            index = register - start_address
            if 0 <= index < len(registers):
                registers[index] = word
        return None
