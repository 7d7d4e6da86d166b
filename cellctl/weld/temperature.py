"""Preheat and interpass temperature, checked before each pass.

Thick plate of high-strength steel cracks if it is welded too cold (hydrogen), and loses its
toughness if it is welded too hot: the WPS gives a minimum preheat and a maximum interpass
temperature (``Procedure.temperature``). Before a seam's arc, with the torch still clear of the
part, the cycle reads the part's temperature (the PLC's ``part_temperature_c`` input: a
pyrometer or contact sensor at the weld zone) and:

- below ``preheat_min_c``: ``PartTooCold`` (the cycle holds with F125; a person preheats, then
  Unhold checks again);
- above ``interpass_max_c``: waits, reading again every ``poll_s``, until the part has cooled
  to the limit; the wait is told (``on_wait``), timed and recorded. A part still too hot after
  ``max_wait_s`` is ``PartDidNotCool`` (F126);
- no reading at all: ``NoPartTemperature`` (F127).

The temperature before the pass and the time waited go on the seam's record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from cellctl.config.models import PART_TEMPERATURE_INPUT, PassTemperature

POLL_S = 0.25
READING_GRACE_S = 2.0  # a PLC scan or two after a reconnect


class PartThermometer(Protocol):
    def part_temperature_c(self) -> float | None:
        """The part's temperature now, °C; None when there is no reading."""


class InputImageThermometer:
    """The part's temperature from the PLC's last input image (``PanelScan.inputs``)."""

    def __init__(self, inputs: Callable[[], Mapping[str, Any]]) -> None:
        self._inputs = inputs

    def part_temperature_c(self) -> float | None:
        value = self._inputs().get(PART_TEMPERATURE_INPUT)
        return None if value is None else float(value)


class PartTooCold(Exception):
    def __init__(self, temperature_c: float, limits: PassTemperature) -> None:
        super().__init__(
            f"part at {temperature_c:.1f} °C, below the preheat minimum "
            f"{limits.preheat_min_c:g} °C: preheat it"
        )


class PartDidNotCool(Exception):
    def __init__(self, temperature_c: float, limits: PassTemperature, waited_s: float) -> None:
        super().__init__(
            f"part still at {temperature_c:.1f} °C after {waited_s:.0f} s, above the interpass "
            f"maximum {limits.interpass_max_c:g} °C"
        )


class NoPartTemperature(Exception):
    pass


@dataclass(frozen=True)
class PassTemperatureRecord:
    """What the seam's record keeps of the check."""

    before_pass_c: float  # when the pass was let go
    interpass_wait_s: float  # waited for the part to cool (0: none)
    preheat_min_c: float
    interpass_max_c: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


async def check_before_pass(
    limits: PassTemperature,
    thermometer: PartThermometer,
    on_wait: Callable[[float], None] = lambda temperature_c: None,
    poll_s: float = POLL_S,
) -> PassTemperatureRecord:
    """Return once the part lies within ``limits`` (waiting while it is too hot); raise
    ``PartTooCold``, ``PartDidNotCool`` or ``NoPartTemperature`` otherwise (see the module)."""
    temperature_c = await _reading(thermometer, poll_s)
    waited_s = 0.0
    if temperature_c > limits.interpass_max_c:
        on_wait(temperature_c)
        started = time.monotonic()
        while temperature_c > limits.interpass_max_c:
            waited_s = time.monotonic() - started
            if waited_s > limits.max_wait_s:
                raise PartDidNotCool(temperature_c, limits, waited_s)
            await asyncio.sleep(poll_s)
            temperature_c = await _reading(thermometer, poll_s)
        waited_s = time.monotonic() - started
    if temperature_c < limits.preheat_min_c:
        raise PartTooCold(temperature_c, limits)
    return PassTemperatureRecord(
        before_pass_c=round(temperature_c, 1),
        interpass_wait_s=round(waited_s, 3),
        preheat_min_c=limits.preheat_min_c,
        interpass_max_c=limits.interpass_max_c,
    )


async def _reading(thermometer: PartThermometer, poll_s: float) -> float:
    deadline = time.monotonic() + READING_GRACE_S
    while (temperature_c := thermometer.part_temperature_c()) is None:
        if time.monotonic() > deadline:
            raise NoPartTemperature(
                f"no reading of the part's temperature (PLC input {PART_TEMPERATURE_INPUT!r}) "
                f"within {READING_GRACE_S:g} s"
            )
        await asyncio.sleep(poll_s)
    return temperature_c
