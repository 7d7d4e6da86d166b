"""The Cell object of the controller's OPC UA interface: its variables and methods, as data.

Shared by the server (``cellctl.plant.opcua.server``) and its clients (the HMI), so that both
read one definition. Every node has a string NodeId ``ns=<cell namespace>;s=Cell.<path>``, e.g.
``Cell.State`` or ``Cell.Weld.CurrentA``, stable across restarts so that MES and SCADA clients
may keep them. Times are Unix seconds (Double); arrays of one group are parallel (the n-th
element of ``Faults.ActiveCodes`` belongs to the n-th of ``Faults.ActiveTexts``).
"""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE_URI = "urn:cellctl:cell"
OBJECT = "Cell"


@dataclass(frozen=True)
class VariableSpec:
    path: str  # e.g. "Weld.CurrentA"; the part before the last dot is its folder
    type: str  # asyncua VariantType name
    array: bool = False
    description: str = ""


def _v(path: str, type_: str, description: str = "", array: bool = False) -> VariableSpec:
    return VariableSpec(path, type_, array, description)


VARIABLES: tuple[VariableSpec, ...] = (
    _v("State", "String", "PackML state (Idle, Execute, Held, ...)"),
    _v("StateNumber", "UInt16", "PackML StateCurrent number"),
    _v("Mode", "String", "production | manual | dry_run"),
    _v("Phase", "String", "what the cycle is doing (clamping, seam s1, ...)"),
    _v("AllowedCommands", "String", "commands the state machine allows now", array=True),
    _v("Part", "String", "part program being welded ('' between parts)"),
    _v("PartId", "Int64", "production record id of the part (0 between parts)"),
    _v("Seam", "String", "seam being welded ('' if none)"),
    _v("LastCommand", "String", "the last OPC UA command: who, what, result"),
    _v("Counters.PartsProcessed", "Int64", "complete production parts (all time)"),
    _v("Counters.PartsGood", "Int64"),
    _v("Counters.PartsDefective", "Int64"),
    _v("Counters.PartsIncomplete", "Int64"),
    _v("Counters.SeamsWelded", "Int64"),
    _v("Production.ShiftStartUnixS", "Double", "start of the window of the figures below"),
    _v("Production.PartsPerHour", "Double"),
    _v("Production.CycleTimeS", "Double", "cycle time of the last processed part"),
    _v("Production.CycleTimeMeanS", "Double"),
    _v("Production.ArcOnRatio", "Double", "arc time / cycle time over the shift"),
    _v("Production.Oee", "Double"),
    _v("Production.Availability", "Double"),
    _v("Production.Performance", "Double"),
    _v("Production.Quality", "Double"),
    _v("Production.PartFinishedUnixS", "Double", "finished parts of the shift", array=True),
    _v("Production.PartCycleTimeS", "Double", array=True),
    _v("Production.PartArcTimeS", "Double", array=True),
    _v("Production.PartVerdicts", "String", "good | bad | dry_run", array=True),
    _v("Faults.ActiveCodes", "String", array=True),
    _v("Faults.ActiveTexts", "String", array=True),
    _v("Faults.ActiveDetails", "String", array=True),
    _v("Faults.ActiveSeverities", "String", "abort | stop | hold", array=True),
    _v("Faults.ActiveRaisedUnixS", "Double", array=True),
    _v("Faults.ActiveAcknowledged", "Boolean", array=True),
    _v("Faults.HistoryCodes", "String", "faults of the shift, newest last", array=True),
    _v("Faults.HistoryTexts", "String", array=True),
    _v("Faults.HistorySeverities", "String", array=True),
    _v("Faults.HistoryRaisedUnixS", "Double", array=True),
    _v("Faults.HistoryClearedUnixS", "Double", "NaN while active (warnings: always)", array=True),
    _v("Faults.ParetoCodes", "String", "fault codes of the shift, most frequent first", array=True),
    _v("Faults.ParetoCounts", "Int32", array=True),
    _v("Weld.ArcOn", "Boolean"),
    _v("Weld.CurrentA", "Double", "actual welding current"),
    _v("Weld.VoltageV", "Double", "actual arc voltage"),
    _v("Weld.WireFeedMPerMin", "Double", "actual wire feed speed"),
    _v("Weld.SampleUnixS", "Double", "when the actuals above were read"),
    _v("Weld.Procedure", "String", "WPS of the seam being welded (or the last)"),
    _v("Weld.CurrentBandA", "Double", "[min, max] of the WPS", array=True),
    _v("Weld.VoltageBandV", "Double", array=True),
    _v("Weld.WireFeedBandMPerMin", "Double", array=True),
    _v("Weld.SeamNames", "String", "recent seams, newest last", array=True),
    _v("Weld.SeamHeatInputKjPerMm", "Double", "NaN for dry runs", array=True),
    _v("Weld.SeamVerdicts", "String", array=True),
    _v("Tracking.LateralCorrectionMm", "Double"),
    _v("Tracking.VerticalCorrectionMm", "Double"),
    _v("Tracking.PositionMm", "Double", "path position of the last correction"),
    _v("Tracking.CorrectionCount", "UInt32", "corrections published so far"),
    _v("Tracking.ProfileYMm", "Double", "latest laser profile, lateral axis", array=True),
    _v("Tracking.ProfileZMm", "Double", "latest laser profile, height axis", array=True),
    _v("Tracking.JointFound", "Boolean"),
    _v("Tracking.JointYMm", "Double"),
    _v("Tracking.JointZMm", "Double"),
    _v("Tracking.ProfileCount", "UInt32", "profiles published so far"),
    _v("Tracking.TaughtPathXMm", "Double", "taught path of the current seam", array=True),
    _v("Tracking.TaughtPathYMm", "Double", array=True),
    _v("Tracking.TaughtPathZMm", "Double", array=True),
    _v("Trace.Serial", "String", "serial number waiting for the next part ('' if none)"),
    _v("Trace.Welder", "String", "welder logged in at the cell ('' if none)"),
    _v("Trace.Qualification", "String", "their ISO 14732 qualification and its expiry"),
    _v("Trace.WireLot", "String", "wire lot in use"),
    _v("Trace.GasLot", "String", "shielding gas lot in use"),
    _v("Orders.InProgress", "String", "work order being welded: number, part number, made"),
    _v("Orders.Queue", "String", "open work orders, the one in progress first", array=True),
    _v("Links.Plc", "String", "up | down | connecting | disconnected"),
    _v("Links.PowerSource", "String"),
    _v("Links.Robot", "String"),
    # Why the cell stands (issue 19; ``cellctl.plant.opcua.downtime``).
    _v("Downtime.StandingSinceUnixS", "Double", "start of the standstill (NaN: producing or "
       "stopped by a fault)"),
    _v("Downtime.ReasonNeeded", "Boolean", "stood longer than downtime_reason_after_s with no "
       "reason: ask the operator (RecordDowntimeReason)"),
    _v("Downtime.Reason", "String", "the reason given for this standstill ('' none)"),
    _v("Downtime.Reasons", "String", "the words RecordDowntimeReason takes", array=True),
    _v("Downtime.ShiftReasons", "String", "reasons of the shift's downtime ('fault' for "
       "faults), longest first", array=True),
    _v("Downtime.ShiftSeconds", "Double", "the time of each, parallel", array=True),
    _v("Production.PlannedStopS", "Double", "planned stops in the shift (not lost availability)"),
    # Parts the controller's last stop interrupted that the operator may confirm for resume
    # (ResumePart; cellctl.weld.resume), parallel arrays; the next Start would weld seam
    # Resume.Seams[n] from pass Resume.NextPasses[n] of Resume.PassCounts[n].
    _v("Resume.PartIds", "Int64", "interrupted parts that may be resumed", array=True),
    _v("Resume.Serials", "String", "their serials ('' none)", array=True),
    _v("Resume.Programs", "String", "their part programs", array=True),
    _v("Resume.Seams", "String", "the seam each goes on at", array=True),
    _v("Resume.NextPasses", "Int32", "the pass of it (1: the seam from its start)", array=True),
    _v("Resume.PassCounts", "Int32", "the passes of that seam", array=True),
    _v("Resume.Armed", "Int64", "the part the next Start reopens (0: a new part)"),
)  # fmt: skip

LINK_VARIABLES = {"plc": "Links.Plc", "power_source": "Links.PowerSource", "robot": "Links.Robot"}

# method -> (the role it needs, its input argument name or None)
STATE_COMMANDS = (
    "Start",
    "Hold",
    "Unhold",
    "Stop",
    "Reset",
    "Abort",
    "Clear",
    "Suspend",
    "Unsuspend",
)
METHODS: dict[str, tuple[str, str | None]] = {
    **{name: ("operator", None) for name in STATE_COMMANDS},
    "AcknowledgeFault": ("operator", "Code"),  # "" acknowledges every active fault
    "SetMode": ("engineer", "Mode"),
    # Why the cell stands: waiting_for_parts, blocked_downstream, torch_cleaning, tip_change,
    # meal_break (``Downtime.Reasons``); refused while the cell produces or a fault stops it.
    "RecordDowntimeReason": ("operator", "Reason"),
    "WhoAmI": ("anonymous", None),  # "<user> <role>" of the calling session; not a command
    # The torch between parts: "tcp_check", "service" or "tip_changed" (cellctl.weld.torch_care)
    "TorchService": ("operator", "What"),
}
# Traceability (``cellctl.trace``): the next part's serial, the welder, the consumable lots,
# a quality engineer's release of a welded serial for one rework, and the non-conformances.
TRACE_COMMANDS: dict[str, tuple[str, str | None]] = {
    "EnterSerial": ("operator", "Serial"),
    "LogInWelder": ("operator", "Welder"),
    "LogOutWelder": ("operator", None),
    "SetWireLot": ("operator", "Lot"),
    "SetGasLot": ("operator", "Lot"),
    "ReleaseRework": ("quality", "Serial"),
    # Non-conformances (cellctl.trace.quality): "<NC id or serial> <text>".
    "RecordRepair": ("operator", "NonConformanceAndRepair"),
    "ReleasePart": ("quality", "NonConformanceAndNote"),
    "ScrapPart": ("quality", "NonConformanceAndNote"),
    # Work orders from the MES (cellctl.trace.orders): a JSON object {"order", "part_number",
    # "quantity", "due"} or a list of them.
    "AddWorkOrder": ("engineer", "OrderJson"),
    # The part the controller's last stop interrupted, confirmed by its id: the next Start
    # reopens it and welds on from its first pass not recorded (cellctl.weld.resume).
    "ResumePart": ("operator", "PartId"),
}
METHODS.update(TRACE_COMMANDS)


def node_id(path: str, namespace_index: int) -> str:
    """The string NodeId of a variable or method of the Cell object."""
    return f"ns={namespace_index};s={OBJECT}.{path}"
