"""The fault catalogue and the book of active faults.

Every fault the cell can raise is a row of ``CATALOGUE``: a code, a severity, the text the
operator reads, and what the operator should do about it. The severity decides the reaction:

========  ===================================================================================
abort     arc off and robot hold at once, then the state machine aborts (Aborted). A person
          must acknowledge, remove the cause, Clear, Reset and Start.
stop      arc off and robot hold, then a controlled stop (Stopped). Acknowledge, Reset, Start.
hold      arc off and robot hold, the cycle is held (Held) where it stands. Acknowledge and
          remove the cause; Unhold resumes (the seam restarts with an overlap).
warning   recorded and shown; no reaction (a quality remark, not a stop).
========  ===================================================================================

Every severity but ``warning`` switches the arc off and holds the robot first, before anything
else happens: the software fails safe. A reset never restarts motion by itself; only Start (or
Unhold) does, and only when no fault is active.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Protocol

from drivers.codecs.power_source_protocol import PowerSourceError
from drivers.codecs.robot_protocol import FaultCode as RobotFault


class Severity(enum.StrEnum):
    ABORT = "abort"
    STOP = "stop"
    HOLD = "hold"
    WARNING = "warning"

    @property
    def makes_safe(self) -> bool:
        """Whether this severity switches the arc off and holds the robot."""
        return self is not Severity.WARNING


class FaultCode(enum.StrEnum):
    """Every fault the cell can raise, by the code the operator reads (``CATALOGUE`` has its
    text, severity and action). A code compares equal to its string: ``FaultCode.DOOR_OPEN ==
    "F101"``."""

    ESTOP = "F100"
    DOOR_OPEN = "F101"
    LIGHT_CURTAIN = "F102"
    DRIVES_OFF = "F103"
    PLC_WATCHDOG = "F104"
    GAS_PRESSURE_LOW = "F110"
    AIR_PRESSURE_LOW = "F111"
    CLAMPS_OPEN = "F112"
    PART_REMOVED = "F113"
    ARC_START_FAILED = "F120"
    ARC_BREAK = "F121"
    POWER_SOURCE_ERROR = "F122"
    WIRE_STICK = "F123"
    GAS_FLOW = "F124"
    PART_TOO_COLD = "F125"
    PART_DID_NOT_COOL = "F126"
    NO_PART_TEMPERATURE = "F127"
    GROOVE_NOT_MEASURED = "F128"
    GROOVE_BEYOND_PASS_TABLE = "F129"
    PLC_LINK = "F130"
    POWER_SOURCE_LINK = "F131"
    ROBOT_LINK = "F132"
    SENSOR_LINK = "F133"
    SENSOR_FRAMES_REFUSED = "F134"
    ROBOT_INTERFACE_STOP = "F135"
    ROBOT_NOT_READY = "F136"
    ROBOT_FAULT = "F140"
    ROBOT_REFUSED_MOTION = "F141"
    ROBOT_JOB_SIGNAL_LATE = "F143"
    SEARCH_POSITION_WRONG = "F147"
    SEARCH_OFFSET_BEYOND_LIMIT = "F148"
    JOINT_NOT_FOUND = "F150"
    TRACKING_LOST = "F151"
    TOUCH_NOT_FOUND = "F152"
    TORCH_COLLISION = "F153"
    TOUCH_FIT_INCONSISTENT = "F154"
    TCP_OUT_OF_LIMITS = "F155"
    TCP_CHECK_FAILED = "F156"
    TOUCH_SEARCH_ABORTED = "F157"
    RECORD_NOT_WRITTEN = "F160"
    STEP_TIMEOUT = "F170"
    INTERNAL_ERROR = "F180"
    TRACE_INCOMPLETE = "F190"
    SERIAL_ALREADY_WELDED = "F191"
    SERIAL_UNREADABLE = "F192"
    SCANNER_LINK = "F193"
    WELDER_NOT_QUALIFIED = "F194"
    WORK_ORDER_REFUSED = "F195"
    OUT_OF_BAND = "W200"
    ARC_RESTARTED = "W201"


@dataclass(frozen=True)
class FaultKind:
    code: FaultCode
    severity: Severity
    text: str
    action: str  # what the operator should do


def _kind(code: str, severity: Severity, text: str, action: str) -> FaultKind:
    return FaultKind(FaultCode(code), severity, text, action)


A, ST, H, W = Severity.ABORT, Severity.STOP, Severity.HOLD, Severity.WARNING

CATALOGUE: dict[FaultCode, FaultKind] = {
    kind.code: kind
    for kind in (
        # -- safety chain and guarding (the PLC's inputs) --
        _kind("F100", A, "E-stop chain open",
              "Find the pressed e-stop, make the cell safe, release it; then Clear, Reset."),
        _kind("F101", A, "Door opened during the cycle",
              "Close the cell door. Check the part and the torch before Reset."),
        _kind("F102", A, "Light curtain interrupted during the cycle",
              "Clear the loading area. Check the part before Reset."),
        _kind("F103", A, "Robot drives switched off by the PLC",
              "Check the safety chain and the PLC's drive enable, then Clear, Reset."),
        _kind("F104", A, "PLC heartbeat watchdog tripped",
              "The PLC lost the controller's heartbeat. Check the network, then Clear, Reset."),
        _kind("F110", H, "Shielding gas supply pressure low",
              "Change or open the gas cylinder; check the regulator. Then Unhold."),
        _kind("F111", H, "Compressed air pressure low",
              "Check the air supply to the fixture. Then Unhold."),
        _kind("F112", A, "Clamps opened during the cycle",
              "Check the fixture clamps and the air; re-clamp the part before Reset."),
        _kind("F113", A, "Part removed during the cycle",
              "Reload the part; the interrupted part is recorded as incomplete."),
        # -- the arc and the power source --
        _kind("F120", H, "Arc did not start after every retry",
              "Check the wire stick-out, the contact tip and the work clamp. Then Unhold."),
        _kind("F121", H, "Arc break during the weld",
              "Check wire feed, contact tip and gas; inspect the seam. Unhold restarts it "
              "with an overlap."),
        _kind("F122", H, "Power source reports an error",
              "Read the power source's error text; fix the cause, then Unhold."),
        _kind("F123", H, "Wire stuck in the weld pool at arc end",
              "Cut the wire free at the contact tip. Then Unhold."),
        _kind("F124", H, "Shielding gas flow fault at the torch",
              "Check the gas hose and the nozzle for spatter. Then Unhold."),
        # -- the part's temperature (preheat and interpass) --
        _kind("F125", H, "Part below its preheat temperature",
              "Preheat the part at the seam to the temperature in the detail (measure as ISO "
              "13916 says). Then Unhold: the temperature is checked again."),
        _kind("F126", H, "Part did not cool to its interpass temperature",
              "Check the part's temperature by hand and the pyrometer; let it cool. Then Unhold."),
        _kind("F127", H, "No reading of the part's temperature",
              "Check the pyrometer and its PLC input. Then Unhold."),
        # -- re-scan between passes (cellctl.weld.rescan) --
        _kind("F128", H, "Re-scan between passes could not measure the groove",
              "Check the sensor's window for spatter and the groove for slag; clean it. Then "
              "Unhold: the groove is scanned again."),
        _kind("F129", H, "Groove outside what the pass table allows",
              "The detail says what was measured: inspect the groove's fill. Abort and finish "
              "the seam by hand; correct the pass table before the next part."),
        # -- links --
        _kind("F130", A, "Lost the link to the PLC",
              "Check the PLC's network cable and power; the link comes back by itself."),
        _kind("F131", A, "Lost the link to the power source",
              "Check the RS-485 cable and the power source; the link comes back by itself."),
        _kind("F132", A, "Lost the link to the robot",
              "Check the robot controller and its cable (serial, or the Ethernet of its "
              "sensor interface); it comes back by itself."),
        _kind("F133", H, "Lost the link to the seam sensor",
              "Check the sensor's cable and power. Then Unhold."),
        _kind("F134", H, "Seam sensor frames do not fit its calibration",
              "The sensor sends images of another size than it was calibrated for: check its "
              "resolution setting and the calibration file. Then Unhold."),
        _kind("F135", A, "Robot stopped with an interface error",
              "The robot stopped its job on its sensor interface (RSI or EGM: late or missing "
              "answers) or on a job fault. Read the robot's message on its pendant; check the "
              "network between controller and robot. Then Clear, Reset."),
        _kind("F136", A, "Robot not ready for its job",
              "The robot must be in external automatic with drives on and no job running: "
              "check the robot's mode and its pendant. Then Clear, Reset."),
        # -- robot --
        _kind("F140", A, "Robot reports a fault",
              "Read the robot's fault on its pendant; fix it before Clear, Reset."),
        _kind("F141", A, "Robot refused a motion",
              "The part program asks for a move the robot cannot make; check the program."),
        _kind("F143", A, "Robot job signal not seen in time",
              "The robot's job did not start, reach the seam or finish in time: check the "
              "robot's job (the detail names the signal), its I/O and the PLC. Then Clear, "
              "Reset."),
        # -- seam finding with a robot that owns its motion (cellctl.weld.owned_search) --
        _kind("F147", A, "Robot job's search position is not where the search needs it",
              "The detail gives where the robot stood and where the laser sees the seam's "
              "first millimetres: correct the job's search position on the robot (see "
              "docs/robots/). Then Clear, Reset."),
        _kind("F148", A, "Seam offset found beyond what the robot job can take",
              "The joint lies further from the taught seam than the robot's correction "
              "limit or the PLC's frame offset allows: check the part in the fixture and the "
              "taught seam. Then Clear, Reset."),
        # -- seam sensing (the vision work raises these) --
        _kind("F150", H, "Joint not found by the seam search",
              "Check the part's position in the fixture and the sensor window. Then Unhold."),
        _kind("F151", H, "Seam tracking lost",
              "Check the sensor's window for spatter and the joint. Then Unhold."),
        # -- touch sensing and the torch (issue 20) --
        _kind("F152", H, "Touch search found nothing within its distance",
              "Check the part in the fixture where the search named in the detail touches, "
              "and the wire (cut, clean); then Unhold."),
        _kind("F153", A, "Torch collision",
              "Check the torch and the part for damage; after Reset the torch's TCP is "
              "checked before the next weld."),
        _kind("F154", H, "Touch searches do not fit one part position",
              "A search touched something else (a tack, spatter, another plate): check the "
              "part and the searches named in the detail; then Unhold."),
        _kind("F155", A, "Torch TCP out of its limits: change the torch",
              "The torch neck is bent beyond what can be corrected: change the neck (or the "
              "torch), then Clear, Reset; the TCP is checked again."),
        _kind("F156", A, "TCP check could not measure the torch",
              "The wire did not cross the TCP checker's beams: check the wire stick-out and "
              "the checker, then Clear, Reset."),
        _kind("F157", H, "Touch search stopped before it ended",
              "The robot stopped the search named in the detail; check the robot and the "
              "part, then Unhold."),
        # -- the controller itself --
        _kind("F160", ST, "Production record could not be written",
              "Check the disk holding the production database; nothing is welded unrecorded."),
        _kind("F170", A, "A cycle step did not finish in time",
              "Check the device named in the detail. Then Clear, Reset."),
        _kind("F180", A, "Internal error in the controller",
              "Call maintenance and send the controller's log: the detail names the task and "
              "the error. The part is recorded incomplete. Then Clear, Reset."),
        # -- traceability (cellctl.trace): remarks, the cell stays as it is --
        _kind("F190", W, "Start refused: the part's traceability is incomplete",
              "The detail says what is missing: scan or type the part's serial number, log "
              "in a qualified welder, or enter the wire and gas lots. Then Start."),
        _kind("F191", W, "Serial number already welded",
              "Check the part's label. A part welded before is welded again only as a rework: "
              "a quality engineer releases it (ReleaseRework), then scan it again."),
        _kind("F192", W, "Serial number not readable",
              "Scan the label again, or type the serial; replace a damaged label."),
        _kind("F193", W, "Lost the link to the barcode scanner",
              "Check the scanner's cable; it comes back by itself. Type serials meanwhile."),
        _kind("F194", W, "Welder login refused",
              "The detail says why (unknown welder, qualification expired). An expired ISO "
              "14732 qualification is renewed before its holder welds again."),
        _kind("F195", W, "Work order refused",
              "The detail names the file, line and field; the file is in the orders folder's "
              "rejected/ with its error beside it. Correct it in the MES and send it again."),
        # -- quality remarks --
        _kind("W200", W, "Weld outside its procedure's band",
              "Inspect the seam named in the detail; the part is recorded as bad."),
        _kind("W201", W, "Arc restarted after a break (seam overlapped)",
              "Inspect the overlap on the seam named in the detail."),
    )
}  # fmt: skip


@dataclass
class Fault:
    """One raised fault, from raise to clear."""

    kind: FaultKind
    detail: str
    raised_at: float = field(default_factory=time.time)
    # time.monotonic() when the cause was seen, and how long until arc off + hold were sent.
    cause_seen_monotonic: float = field(default_factory=time.monotonic)
    reaction_ms: float | None = None
    acknowledged_at: float | None = None
    acknowledged_by: str | None = None
    cleared_at: float | None = None
    record_id: int | None = None  # row in the production store
    state: str = ""  # PackML state when raised
    phase: str = ""  # weld cycle phase when raised

    @property
    def code(self) -> FaultCode:
        return self.kind.code

    @property
    def severity(self) -> Severity:
        return self.kind.severity

    @property
    def acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    def describe(self) -> str:
        return (
            f"{self.code} {self.kind.text}: {self.detail}"
            if self.detail
            else (f"{self.code} {self.kind.text}")
        )


class UnknownFault(KeyError):
    pass


class FaultBook:
    """The active faults: raised, acknowledged by a person, cleared once the cause is gone.

    A code already active is not raised twice (its detail is kept from the first time): a
    door held open raises one fault, not one per scan.
    """

    def __init__(self) -> None:
        self.active: list[Fault] = []

    def raise_fault(self, code: FaultCode | str, detail: str = "", **where: str) -> Fault | None:
        """Raise ``code``; returns the new fault, or None if that code is already active."""
        kind = CATALOGUE.get(code)  # type: ignore[call-overload]  (a str finds its code)
        if kind is None:
            raise UnknownFault(code)
        if any(f.code == code for f in self.active):
            return None
        fault = Fault(kind, detail, **where)
        if kind.severity is not Severity.WARNING:
            self.active.append(fault)
        return fault

    def acknowledge_all(self, by: str) -> list[Fault]:
        now = time.time()
        newly = [f for f in self.active if not f.acknowledged]
        for fault in newly:
            fault.acknowledged_at = now
            fault.acknowledged_by = by
        return newly

    def acknowledge(self, code: str, by: str) -> Fault:
        for fault in self.active:
            if fault.code == code:
                if not fault.acknowledged:
                    fault.acknowledged_at = time.time()
                    fault.acknowledged_by = by
                return fault
        raise UnknownFault(code)

    def unacknowledged(self) -> list[Fault]:
        return [f for f in self.active if not f.acknowledged]

    def clear(self, still_present: set[str]) -> tuple[list[Fault], list[Fault]]:
        """Clear acknowledged faults whose cause is gone; returns (cleared, remaining)."""
        now = time.time()
        cleared, remaining = [], []
        for fault in self.active:
            if fault.acknowledged and fault.code not in still_present:
                fault.cleared_at = now
                cleared.append(fault)
            else:
                remaining.append(fault)
        self.active = remaining
        return cleared, remaining

    def worst(self) -> Severity | None:
        order = [Severity.ABORT, Severity.STOP, Severity.HOLD]
        for severity in order:
            if any(f.severity is severity for f in self.active):
                return severity
        return None


# Which fault is the loss of which device's link: one table for whoever finds a link dead.
LINK_FAULTS: dict[str, FaultCode] = {
    "plc": FaultCode.PLC_LINK,
    "power_source": FaultCode.POWER_SOURCE_LINK,
    "robot": FaultCode.ROBOT_LINK,
    "sensor": FaultCode.SENSOR_LINK,
}
# Faults on which the PLC drops the robot's drive enable by itself (e-stop, door, light
# curtain, heartbeat watchdog): the controller no longer asks for drives after them.
DRIVES_DROPPED_BY_PLC = frozenset(
    {FaultCode.ESTOP, FaultCode.DOOR_OPEN, FaultCode.LIGHT_CURTAIN, FaultCode.PLC_WATCHDOG}
)
# Power source error codes that have their own fault; every other error is F122.
POWER_SOURCE_FAULTS: dict[int, FaultCode] = {
    PowerSourceError.ARC_BREAK: FaultCode.ARC_BREAK,
    PowerSourceError.WIRE_STICK: FaultCode.WIRE_STICK,
    PowerSourceError.GAS_FLOW: FaultCode.GAS_FLOW,
    # The ignition failure the cycle already faults as F120 once its retries are spent.
    PowerSourceError.IGNITION_FAILED: FaultCode.ARC_START_FAILED,
    # The power source's own interface watchdog ended the arc because the controller went
    # quiet: that is the lost link, seen from the other end, not a second fault.
    PowerSourceError.INTERFACE_TIMEOUT: FaultCode.POWER_SOURCE_LINK,
}


def power_source_fault(error_code: int) -> FaultCode:
    """The fault for a power source's error code (F122 for any without one of its own)."""
    return POWER_SOURCE_FAULTS.get(error_code, FaultCode.POWER_SOURCE_ERROR)


# Robot fault codes that have their own fault; every other robot fault is F140. The robot's
# collision stop is the breakaway switch seen from the robot (the switch is wired to its stop
# and to the PLC): one event, so one fault, F153, whichever of the two the controller reads
# first, not F153 from the PLC and F140 from the robot's status beside it.
ROBOT_FAULTS: dict[int, FaultCode] = {RobotFault.TORCH_COLLISION: FaultCode.TORCH_COLLISION}


def robot_fault(fault_code: int) -> FaultCode:
    """The fault for a robot's own fault code (F140 for any without one of its own)."""
    return ROBOT_FAULTS.get(fault_code, FaultCode.ROBOT_FAULT)


class FaultReporter(Protocol):
    """Whoever books faults and reacts to them (the controller's fault reaction). Parts of
    the cell that find a fault (the weld cycle, the panel scan) report it here and never
    decide the reaction themselves."""

    def raise_fault(
        self,
        code: FaultCode,
        detail: str = "",
        cause_seen: float | None = None,
        *,
        device_answered: bool = False,
    ) -> None:
        """``device_answered``: the device itself reported the fault in an answer (a power
        source's own "no command from the controller"), so its link is not the one that
        failed, even when the fault's code is its link fault."""
