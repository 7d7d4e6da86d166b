"""Config of traceability (cell.yaml ``traceability:``): where a part's serial number comes
from and whether one is required, the barcode scanner, the welders (operators) who may log in
at the cell with their ISO 14732 qualification, and whether consumable lots must be entered
(``cellctl.trace``)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from drivers.codecs.model import StrictModel

SerialSource = Literal["scanner", "plc", "operator"]


class ScannerSettings(StrictModel):
    """A barcode or QR scanner on a serial port (RS-232, or USB in its serial/CDC mode):
    each scan is one line of text, ended by the scanner's suffix (CR, LF or both)."""

    port: str  # a device path (/dev/ttyACM0) or a pyserial URL
    baud: Annotated[int, Field(ge=1200, le=921_600)] = 9600
    # Seconds between attempts to open the port while it is absent (unplugged).
    reopen_delay_s: Annotated[float, Field(ge=0.05, le=60)] = 1.0


class SerialSettings(StrictModel):
    # A part may not start without a serial number when this is true.
    required: bool = False
    # Where serials are taken from; the operator may always type one when "operator" is listed.
    sources: Annotated[list[SerialSource], Field(min_length=1)] = Field(
        default_factory=lambda: ["operator"]
    )
    # What a serial number looks like: anything else (a mis-scan, a garbled line) is refused.
    pattern: str = r"^[A-Z0-9][A-Z0-9\-/.]{3,31}$"

    @model_validator(mode="after")
    def _pattern_compiles(self) -> SerialSettings:
        try:
            re.compile(self.pattern)
        except re.error as error:
            raise ValueError(f"pattern is not a regular expression: {error}") from None
        if len(set(self.sources)) != len(self.sources):
            raise ValueError("sources lists a source twice")
        return self


class WelderQualification(StrictModel):
    """A welding operator's qualification per ISO 14732 (mechanised and automatic welding):
    the certificate's number, what it covers, and the date it expires (checked at login)."""

    standard: Literal["ISO 14732"] = "ISO 14732"
    number: Annotated[str, Field(min_length=1, max_length=60)]
    scope: Annotated[str, Field(min_length=1, max_length=200)]
    expires: dt.date


class Welder(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$")]
    full_name: str = ""
    qualification: WelderQualification


class WorkOrderSettings(StrictModel):
    """Work orders from the MES (``cellctl.trace.orders``): files dropped into ``folder``
    (JSON or CSV), or the OPC UA method ``AddWorkOrder``. Each names a part number, which
    ``part_numbers`` maps to a part program of this cell."""

    # Relative to the cell config's folder unless absolute. Taken files go to accepted/,
    # refused ones to rejected/ with a .error.txt beside them naming file, line and field.
    folder: str | None = None
    poll_period_s: Annotated[float, Field(ge=0.05, le=60)] = 1.0
    part_numbers: dict[str, str] = Field(default_factory=dict)  # part number -> part program


class TraceabilitySettings(StrictModel):
    serial: SerialSettings = SerialSettings()
    scanner: ScannerSettings | None = None
    # A part may not start without a welder logged in whose qualification is valid.
    welder_required: bool = False
    welders: list[Welder] = Field(default_factory=list)
    # A part may not start before the wire and gas lots in use have been entered.
    lots_required: bool = False
    work_orders: WorkOrderSettings = WorkOrderSettings()

    @model_validator(mode="after")
    def _consistent(self) -> TraceabilitySettings:
        if "scanner" in self.serial.sources and self.scanner is None:
            raise ValueError("serial.sources lists scanner, but no scanner is configured")
        if self.scanner is not None and "scanner" not in self.serial.sources:
            raise ValueError("a scanner is configured, but serial.sources does not list it")
        if self.welder_required and not self.welders:
            raise ValueError("welder_required needs at least one welder under welders")
        names = [w.name for w in self.welders]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"welders listed twice: {', '.join(duplicates)}")
        return self
