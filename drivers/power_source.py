"""The welding power source over Modbus RTU (a serial port, a pty, or ``socket://host:port``).

The controller commands the arc through this driver: setpoints (a job number, or current,
voltage and wire feed), arc on and off, gas test, wire inch and retract, error reset; and it
reads the status and the actual current, voltage and wire feed while the arc burns. The
register layout is the cell config's map (``drivers.modbus.register_device`` keeps the input and
output images and refuses writes the map does not allow); the meaning of the values is in
``drivers.codecs.power_source_protocol``.

Setpoints above the machine's limits (``power_source.limits``), negative or not finite, are
refused before the wire with ``WriteRefused``. ``make_safe()`` is the fail-safe write: arc off,
gas and wire functions off, in one request.
"""

from __future__ import annotations

import asyncio
import logging
import math

from drivers.codecs.modbus_map import InputScan
from drivers.codecs.power_source_protocol import (
    ARC_SENSING_INPUTS,
    PowerSourceStatus,
    WeavePeriodCurrents,
)
from drivers.codecs.settings import PowerSourceSettings
from drivers.errors import DeviceError, LinkDown
from drivers.modbus.link import WireTap
from drivers.modbus.register_device import RegisterDevice

log = logging.getLogger(__name__)

SAFE_OUTPUTS = ("arc_on", "gas_test", "wire_inch", "wire_retract")
ERROR_RESET_PULSE_S = 0.05
# How long the link stays silent after an undelivered arc-off, in interface watchdog times:
# long enough for the watchdog to fire with margin for its own polling.
SILENCE_PER_WATCHDOG = 1.5


class PowerSourceDriver(RegisterDevice):
    """A GMAW power source's robot interface."""

    def __init__(
        self,
        settings: PowerSourceSettings,
        device: str = "power_source",
        wire_tap: WireTap | None = None,
    ) -> None:
        super().__init__(device, settings.link, settings.registers, wire_tap)
        self.settings = settings
        self.last_status: PowerSourceStatus | None = None
        # Arc sensing's inputs (when the map has them) are read on their own, only while a
        # pass is tracked by the arc (``read_weave_period``): the status read every sample
        # stays one request.
        inputs = settings.registers.inputs
        arc_inputs = {name: inputs[name] for name in ARC_SENSING_INPUTS if name in inputs}
        self._arc_scan: InputScan | None = None
        if len(arc_inputs) == len(ARC_SENSING_INPUTS):
            status_inputs = {k: v for k, v in inputs.items() if k not in arc_inputs}
            self._scan = InputScan(settings.registers.model_copy(update={"inputs": status_inputs}))
            self._arc_scan = InputScan(settings.registers.model_copy(update={"inputs": arc_inputs}))

    @property
    def has_arc_sensing(self) -> bool:
        """Whether the register map has every arc-sensing input (``ARC_SENSING_INPUTS``)."""
        return self._arc_scan is not None

    async def connect(self) -> None:
        await self.link.connect()

    async def close(self) -> None:
        await self.link.close()

    # -- setpoints ------------------------------------------------------------------------

    async def set_job(self, job_number: int) -> None:
        """Weld with a job stored in the power source (job mode)."""
        await self.write_outputs({"job_number": job_number, "job_mode": True})

    async def set_setpoints(
        self, current_a: float, voltage_v: float, wire_feed_m_per_min: float
    ) -> None:
        """Weld with these setpoints (direct mode); contiguous setpoints go in one request."""
        limits = self.settings.limits
        for name, value, limit, unit in (
            ("current_setpoint_a", current_a, limits.max_current_a, "A"),
            ("voltage_setpoint_v", voltage_v, limits.max_voltage_v, "V"),
            ("wire_feed_setpoint_m_per_min", wire_feed_m_per_min, limits.max_wire_feed_m_per_min,
             "m/min"),
        ):  # fmt: skip
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or value < 0
            ):
                self._refuse(self.address, f"{name} {value!r} is not a setpoint; nothing sent")
            if value > limit:
                self._refuse(
                    self.address,
                    f"{name} {value:g} {unit} is above this machine's limit {limit:g} {unit}; "
                    "nothing was sent",
                )
        await self.write_outputs(
            {
                "job_mode": False,
                "current_setpoint_a": current_a,
                "voltage_setpoint_v": voltage_v,
                "wire_feed_setpoint_m_per_min": wire_feed_m_per_min,
            }
        )

    # -- the arc and its helpers ------------------------------------------------------------

    async def arc_on(self) -> None:
        await self.write_output("arc_on", True)

    async def arc_off(self) -> None:
        await self.write_output("arc_on", False)

    async def gas_test(self, on: bool) -> None:
        await self.write_output("gas_test", on)

    async def wire_inch(self, on: bool) -> None:
        await self.write_output("wire_inch", on)

    async def wire_retract(self, on: bool) -> None:
        await self.write_output("wire_retract", on)

    async def touch_sense(self, on: bool) -> None:
        """Put the touch-sensing voltage on the wire (or take it off): the machine then
        reports contact with the work in ``wire_touching``, and the same signal goes to the
        robot's search input. Refused before the wire when the map has no ``touch_sense_on``."""
        if "touch_sense_on" not in self.registers.outputs:
            self._refuse(self.address, "this power source's map has no touch_sense_on output")
        await self.write_output("touch_sense_on", on)

    async def reset_error(self) -> None:
        """Pulse the error reset bit. The machine clears a latched error on the rising edge, and
        it scans its interface only every few milliseconds, so the bit is held for
        ``ERROR_RESET_PULSE_S`` before it drops (a shorter pulse may go unseen)."""
        if self.output_value("error_reset"):
            await self.write_output("error_reset", False)  # a bit left on makes no edge
        await self.write_output("error_reset", True)
        try:
            await asyncio.sleep(ERROR_RESET_PULSE_S)
        finally:
            await self.write_output("error_reset", False)

    async def make_safe(self) -> None:
        """Arc off, gas and wire functions off, in one write, without reading anything first.

        The command word is written from the output image with those bits cleared; if the image
        is not known (just reconnected), the whole word is written as 0, which is the machine's
        safe state too (job mode off included). Raises ``DeviceError`` if it could not be
        delivered (the caller records that); the power source's own interface watchdog then
        switches the arc off.

        It waits its turn with every other write (the output image's lock): a write staged from
        the image before it could otherwise go out after it and switch the arc on again. The
        image takes the safe word before it is sent, delivered or not, so that whatever is
        written next (the operator's error reset once the link is back) says the arc off too:
        an undelivered arc-off left the arc on in the image, and the reset's word sent it again.
        """
        signals = [self.registers.outputs[name] for name in SAFE_OUTPUTS]
        async with self._write_lock:
            words: dict[int, int] = {}
            for signal in signals:
                known = self._image.get(signal.address) if self._image_synced else None
                word = words.get(signal.address, 0 if known is None else known)
                if signal.bit is not None:
                    word &= ~(1 << signal.bit) & 0xFFFF
                else:
                    word = 0
                words[signal.address] = word
            self._image.update(words)
            try:
                for address, word in sorted(words.items()):
                    await self.link.write_registers(address, [word], self._allowed)
            except DeviceError as error:
                log.warning("%s: safe write not delivered: %s", self.device, error)
                if not isinstance(error, LinkDown):
                    # It answers but does not take the arc-off (busy, failing): stop talking to
                    # it, so that its interface watchdog switches the arc off. A link already
                    # down is silent by itself.
                    self.link.fall_silent(
                        self.settings.interface_watchdog_ms / 1000 * SILENCE_PER_WATCHDOG,
                        "so that the power source's interface watchdog switches the arc off",
                    )
                raise

    async def read_back_outputs(self) -> None:
        """Read the output words back (once per connection, before a bit of one changes), with
        the arc and its helpers (``SAFE_OUTPUTS``) off in the image whatever the machine still
        holds: a power source keeps its arc-on command through a lost link, and a bit written
        after the link returns must never send it back."""
        await super().read_back_outputs()
        for name in SAFE_OUTPUTS:
            signal = self.registers.outputs[name]
            if signal.address not in self._image:
                continue
            if signal.bit is None:
                self._image[signal.address] = 0
            else:
                self._image[signal.address] &= ~(1 << signal.bit) & 0xFFFF

    # -- status -----------------------------------------------------------------------------

    async def read_weave_period(self) -> WeavePeriodCurrents:
        """The power source's last completed weave period (arc sensing), in one request.
        Raises ``DeviceError`` as every read does; ``RuntimeError`` if the map lacks the
        arc-sensing inputs (the config check refuses arc tracking then)."""
        if self._arc_scan is None:
            raise RuntimeError(
                f"{self.device}: the register map has no arc-sensing inputs "
                f"({', '.join(ARC_SENSING_INPUTS)})"
            )
        table = self.registers.input_table
        blocks = [
            await self.link.read_registers(table, block.start, block.count)
            for block in self._arc_scan.blocks
        ]
        return WeavePeriodCurrents.from_inputs(self._arc_scan.decode(blocks))

    async def read_status(self) -> PowerSourceStatus:
        status = PowerSourceStatus.from_inputs(await self.read_inputs())
        self.last_status = status
        return status
