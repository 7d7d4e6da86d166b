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
    _v("Links.Plc", "String", "up | down | connecting | disconnected"),
    _v("Links.PowerSource", "String"),
    _v("Links.Robot", "String"),
)

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
    "WhoAmI": ("anonymous", None),  # "<user> <role>" of the calling session; not a command
    # The torch between parts: "tcp_check", "service" or "tip_changed" (cellctl.weld.torch_care)
    "TorchService": ("operator", "What"),
}


def node_id(path: str, namespace_index: int) -> str:
    """The string NodeId of a variable or method of the Cell object."""
    return f"ns={namespace_index};s={OBJECT}.{path}"
