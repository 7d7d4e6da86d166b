"""The cell's traceability at the station: ``Traceability``.

It holds what the next part will be recorded with, and writes it on the part's record when
the part starts (``part_started``):

- the serial number waiting for the next part, from the barcode scanner (``drivers.scanner``
  on the configured port), or typed by the operator (OPC UA ``EnterSerial``). A serial that
  has been welded before is refused unless a quality engineer released it for a rework
  (``ReleaseRework``); the release is used up by the part that welds it;
- the welder logged in at the cell (``LogInWelder``), whose ISO 14732 qualification is checked
  against its expiry date at login and again when a part starts;
- the wire and gas lots in use (``SetWireLot``, ``SetGasLot``), kept in the store so that
  they outlast a restart of the controller.

``start_blockers`` says what is missing for a production part when the config requires it;
the controller refuses Start with it (F190). Every refusal is a remark in the fault history
(F191-F194), so that the operator sees it where they look, and the OPC UA caller gets it as
the method's answer.

Owner: everything here runs on the controller's event loop (the scanner reads through the
loop too); nothing is touched by another thread.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cellctl.cell.faults import FaultCode
from cellctl.config.load import LoadedConfig
from cellctl.config.models import PartProgram
from cellctl.records.store import AsyncStore, StoreError
from cellctl.trace import quality
from cellctl.trace.identity import (
    TraceRefused,
    WelderOnShift,
    checked_lot,
    checked_serial,
    qualified_welder,
)
from cellctl.trace.orders import WorkOrderQueue
from drivers.codecs.serial_text import SERIAL_ACK_OUTPUT, SerialTextError, decode_serial
from drivers.errors import DeviceError
from drivers.scanner import LineScanner

log = logging.getLogger(__name__)

LOT_KINDS = ("wire", "gas")


@dataclass(frozen=True)
class PendingSerial:
    serial: str
    source: str  # scanner | plc | operator
    by: str
    rework_release: int | None  # the release that lets a welded serial be welded again


class Traceability:
    """See the module. ``warn(code, detail)`` books a remark; ``tell`` writes the event log;
    ``spawn(coroutine, name)`` runs a task under the controller's supervisor."""

    def __init__(
        self,
        config: LoadedConfig,
        store: AsyncStore,
        warn: Callable[[FaultCode, str], None],
        tell: Callable[[str], None],
        spawn: Callable[..., Any],
        plc_inputs: Callable[[], dict[str, Any]] = dict,
        plc_write: Callable[[dict[str, Any]], Awaitable[None]] | None = None,
        plc_scan_period_s: float = 0.05,
        today: Callable[[], dt.date] = dt.date.today,
    ) -> None:
        self.config = config
        self.settings = config.cell.traceability
        self.store = store
        self.warn = warn
        self.tell = tell
        self.spawn = spawn
        self.today = today
        self.plc_inputs = plc_inputs
        self.plc_write = plc_write
        self.plc_scan_period_s = plc_scan_period_s
        self.pending: PendingSerial | None = None
        self.welder: WelderOnShift | None = None
        self.lots: dict[str, str] = {}
        self.scanner: LineScanner | None = None
        orders = self.settings.work_orders
        self.orders = WorkOrderQueue(
            orders,
            config.resolve(orders.folder) if orders.folder is not None else None,
            store,
            tell,
            warn,
        )

    # -- life ------------------------------------------------------------------------------------

    async def start(self) -> None:
        self.lots = await self.store.current_lots()
        await self.orders.refresh()
        if self.orders.folder is not None:
            self.spawn(self.orders.watch, "work-order folder", forever=True)
        if "plc" in self.settings.serial.sources:
            self.spawn(self._watch_plc_serial, "PLC serial", forever=True)
        scanner = self.settings.scanner
        if scanner is not None:
            self.scanner = LineScanner(
                scanner.port,
                scanner.baud,
                on_scan=self._scanned,
                on_garbled=lambda why: self.warn(FaultCode.SERIAL_UNREADABLE, why),
                on_link=self._scanner_link,
                reopen_delay_s=scanner.reopen_delay_s,
            )
            self.scanner.start()

    async def close(self) -> None:
        if self.scanner is not None:
            await self.scanner.close()
        if self.welder is not None:
            await self.store.record_welder_logout(self.welder.login_id)
            self.welder = None

    async def _watch_plc_serial(self) -> None:
        """A serial the PLC presents (``drivers.codecs.serial_text``): taken when its strobe
        changes while the controller runs (one standing at start was for an earlier run), and
        acknowledged (``serial_ack`` = the strobe) whether taken or refused."""
        last = self.plc_inputs().get("serial_strobe")
        while True:
            await asyncio.sleep(self.plc_scan_period_s)
            inputs = self.plc_inputs()
            strobe = inputs.get("serial_strobe")
            if strobe is None or strobe == last:
                continue
            if last is None:  # the first scan since the start
                last = strobe
                continue
            last = strobe
            try:
                text = decode_serial(inputs)
            except SerialTextError as error:
                self.warn(FaultCode.SERIAL_UNREADABLE, f"PLC registers: {error}")
            else:
                await self._take_serial(text, "plc")
            if self.plc_write is not None:
                try:
                    await self.plc_write({SERIAL_ACK_OUTPUT: strobe})
                except DeviceError as error:
                    # The PLC's link is down (its own fault says so): the serial is taken;
                    # the PLC sees the acknowledge with the next serial's.
                    log.warning("serial_ack %s not written: %s", strobe, error)

    def _scanner_link(self, up: bool, why: str) -> None:
        self.tell(why)
        if not up:
            self.warn(FaultCode.SCANNER_LINK, why)

    def _scanned(self, text: str) -> None:
        self.spawn(self._take_serial(text, "scanner"), "serial scanned")

    async def _take_serial(self, text: str, source: str) -> None:
        """A serial from a device: a refusal is already a remark; a store that cannot say
        whether the serial was welded is F160 (nothing is welded unrecorded)."""
        try:
            await self.enter_serial(text, source, by=source)
        except TraceRefused:
            pass
        except StoreError as error:
            self.warn(
                FaultCode.RECORD_NOT_WRITTEN, f"serial from the {source} not checked: {error}"
            )

    # -- serial numbers --------------------------------------------------------------------------

    async def enter_serial(self, text: str, source: str, by: str) -> str:
        """Take ``text`` as the next part's serial (``TraceRefused`` saying why not)."""
        if source not in self.settings.serial.sources:
            raise TraceRefused(
                f"serial numbers are not taken from the {source} here (sources: "
                f"{', '.join(self.settings.serial.sources)})"
            )
        try:
            serial = checked_serial(text, self.settings.serial.pattern)
        except TraceRefused as refused:
            self.warn(FaultCode.SERIAL_UNREADABLE, f"{source}: {refused}")
            raise
        welded = [p for p in await self.store.parts_with_serial(serial) if p["mode"] != "dry_run"]
        release = None
        if welded:
            release = await self.store.open_rework_release(serial)
            if release is None:
                last = welded[-1]
                when = dt.datetime.fromtimestamp(last["started_at"]).strftime("%Y-%m-%d %H:%M")
                message = (
                    f"serial {serial} was welded as part {last['id']} on {when} "
                    f"({last['status']}, {last['verdict'] or 'no verdict'}); a rework needs a "
                    "release by quality"
                )
                self.warn(FaultCode.SERIAL_ALREADY_WELDED, message)
                raise TraceRefused(message)
        self.pending = PendingSerial(serial, source, by, release["id"] if release else None)
        rework = (
            f" (rework, release {release['id']} by {release['released_by']})" if release else ""
        )
        self.tell(f"serial {serial} from the {source} for the next part{rework}")
        return f"serial {serial} for the next part{rework}"

    async def release_rework(self, text: str, by: str) -> str:
        """A quality engineer lets a welded serial be welded again, once."""
        serial = checked_serial(text, self.settings.serial.pattern)
        welded = [p for p in await self.store.parts_with_serial(serial) if p["mode"] != "dry_run"]
        if not welded:
            raise TraceRefused(f"serial {serial} has not been welded: nothing to rework")
        if await self.store.open_rework_release(serial) is not None:
            raise TraceRefused(f"serial {serial} is already released for a rework")
        release = await self.store.release_rework(serial, by, f"after part {welded[-1]['id']}")
        self.tell(f"serial {serial} released for a rework by {by} (release {release})")
        return f"serial {serial} released for one rework (release {release})"

    # -- the welder --------------------------------------------------------------------------------

    async def log_in(self, name: str, by: str) -> str:
        try:
            welder = qualified_welder(name, self.settings.welders, self.today())
        except TraceRefused as refused:
            self.warn(FaultCode.WELDER_NOT_QUALIFIED, str(refused))
            raise
        if self.welder is not None:
            await self.store.record_welder_logout(self.welder.login_id)
        q = welder.qualification
        on_shift = WelderOnShift(welder.name, welder.full_name, q.standard, q.number, q.scope,
                                 q.expires, 0)  # fmt: skip
        login_id = await self.store.record_welder_login(welder.name, on_shift.qualification(), by)
        self.welder = WelderOnShift(**{**on_shift.__dict__, "login_id": login_id})
        self.tell(f"welder {welder.name} logged in ({q.standard} {q.number}, expires {q.expires})")
        return f"welder {welder.name} logged in; qualification {q.number} valid until {q.expires}"

    async def log_out(self, by: str) -> str:
        if self.welder is None:
            raise TraceRefused("no welder is logged in")
        name = self.welder.name
        await self.store.record_welder_logout(self.welder.login_id)
        self.welder = None
        self.tell(f"welder {name} logged out by {by}")
        return f"welder {name} logged out"

    # -- consumables -------------------------------------------------------------------------------

    async def set_lot(self, kind: str, text: str, by: str) -> str:
        if kind not in LOT_KINDS:
            raise TraceRefused(f"unknown consumable {kind!r} (wire, gas)")
        lot = checked_lot(text)
        await self.store.record_lot(kind, lot, by)
        self.lots[kind] = lot
        self.tell(f"{kind} lot {lot} entered by {by}")
        return f"{kind} lot {lot}"

    # -- non-conformances (``cellctl.trace.quality``) ------------------------------------------

    async def record_repair(self, text: str, by: str) -> str:
        welder = self.welder.name if self.welder else None
        answer = await self.store.on_store(quality.record_repair, text, by, welder)
        self.tell(answer)
        return answer

    async def decide(self, decision: str, text: str, by: str) -> str:
        answer = await self.store.on_store(quality.decide, decision, text, by)
        self.tell(answer)
        return answer

    # -- the part ----------------------------------------------------------------------------------

    def start_blockers(self, mode: str) -> list[str]:
        """What a production part still lacks (none for a dry run, which welds nothing)."""
        if mode == "dry_run":
            return []
        reasons = []
        if self.settings.serial.required and self.pending is None:
            sources = " or ".join(self.settings.serial.sources)
            reasons.append(f"no serial number for the part (from the {sources})")
        if self.settings.welder_required:
            if self.welder is None:
                reasons.append("no welder logged in")
            elif self.welder.expires < self.today():
                reasons.append(
                    f"welder {self.welder.name}'s qualification {self.welder.number} expired "
                    f"on {self.welder.expires.isoformat()}"
                )
        if self.settings.lots_required:
            missing = [kind for kind in LOT_KINDS if kind not in self.lots]
            if missing:
                reasons.append(f"no {' and no '.join(missing)} lot entered")
        return reasons

    def next_program(self) -> PartProgram | None:
        """The part program of the work order in progress (None: no order; the config's
        active part is welded)."""
        order = self.orders.current
        return self.config.parts[order["part_program"]] if order is not None else None

    async def part_finished(self) -> None:
        """A part was closed: the queue's figures (counted from the records) move on."""
        await self.orders.refresh()

    async def part_started(self, part_id: int, program: PartProgram, mode: str) -> None:
        """Write the part's trace (its record exists); the pending serial is used up by a
        production part (a dry run welds nothing: it leaves the serial for the real part)."""
        if mode == "dry_run":
            pending = None
        else:
            pending, self.pending = self.pending, None
        procedures = {}
        for seam in program.seams_in_order():
            for index in range(max(1, len(seam.passes))):
                name = seam.pass_procedure(index)
                procedure = self.config.procedures[name]
                procedures[name] = {"revision": procedure.revision, "wpqr": procedure.wpqr}
        welder = self.welder
        order = self.orders.current if mode != "dry_run" else None
        await self.store.record_part_trace(
            part_id,
            pending.serial if pending else None,
            pending.source if pending else None,
            order["order_no"] if order is not None else None,
            welder.name if welder else None,
            ({"full_name": welder.full_name, **welder.qualification()} if welder else None),
            dict(self.lots),
            procedures,
            pending.rework_release if pending else None,
        )
        if pending is not None:
            self.tell(f"part {part_id} is serial {pending.serial}")

    def snapshot(self) -> dict[str, Any]:
        """For the plant's read model: the pending serial, the welder, the lots, the order in
        progress and the queue (each "WO-4711 A12-100-01 x3, 1 made, due 2026-12-05 14:00")."""
        welder = self.welder
        queue = [
            f"{o['order_no']} {o['part_number']} x{o['quantity']}, {o['made']} made, due "
            f"{dt.datetime.fromtimestamp(o['due_at']).strftime('%Y-%m-%d %H:%M')}"
            for o in self.orders.open
        ]
        return {
            "order": queue[0] if queue else "",
            "queue": queue,
            "serial": self.pending.serial if self.pending else "",
            "welder": welder.name if welder else "",
            "qualification": (
                f"{welder.standard} {welder.number} until {welder.expires.isoformat()}"
                if welder
                else ""
            ),
            "wire_lot": self.lots.get("wire", ""),
            "gas_lot": self.lots.get("gas", ""),
        }
