"""Fault injection: the one command table of the simulated cell's faults.

A command is a line of words, e.g. ``door_open``, ``link_cut robot``, ``slow power_source
200``, ``corrupt plc 3``, ``arc_start_failure 2``, ``part_temperature 180``. Scenario files
write them in their timelines (``do:``), and ``cellsim ctl inject do="..."`` sends them to a
running simulator: both go through ``inject`` here, so a fault means the same thing in both.

``VERBS`` says what follows each verb: a device, then numbers where given. ``check`` refuses a
line that does not fit, naming what the verb takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

DEVICES = ("plc", "power_source", "robot")
# Every verb and what follows it: a device, then a number where given.
VERBS: dict[str, str] = {
    **{verb: "" for verb in (
        "door_open", "door_close", "estop", "estop_release", "light_curtain_block",
        "light_curtain_clear", "gas_pressure_low", "gas_pressure_ok", "air_pressure_low",
        "air_pressure_ok", "arc_break", "wire_stick", "gas_fault", "power_source_clear",
        "sensor_blind", "sensor_clear",
    )},
    **{verb: "device" for verb in ("link_cut", "link_restore", "stall", "half_open",
                                   "wire_clear", "modbus_exception_clear")},
    **{verb: "device [frames]" for verb in ("corrupt", "truncate", "garbage")},
    "slow": "device milliseconds",
    "modbus_exception": "device code",
    "arc_start_failure": "[failures]",
    "power_source_error": "code",
    "press": "button",
    # The part as a person leaves it (preheated with a torch, fresh from outside), °C.
    "part_temperature": "celsius",
    # A robot on KUKA RSI: the network delays its answers (ms; only the next so many answers,
    # where given), loses a share of datagrams.
    "rsi_late": "milliseconds [answers]",
    "rsi_loss": "share",
    # A robot on ABB EGM: the network delays the sensor's messages (ms), loses a share of them,
    # or loses every one of them (the robot's feedback still goes out), and back.
    "egm_late": "milliseconds",
    "egm_loss": "share",
    "egm_sensor_drop": "",
    "egm_sensor_clear": "",
    # The torch (sim.devices.touch): a collision (breakaway switch, robot stop, a bent neck),
    # a neck bent by (x, y, z) mm in the tool's frame (the cell's with the torch upright),
    # the wire sticking out this much beyond nominal.
    "torch_collision": "",
    # A slag ball on the wire's tip: it touches but makes no electrical contact (and back).
    "wire_insulated": "",
    "wire_clean": "",
    "torch_bend": "x_mm y_mm z_mm",
    "stick_out": "extra_mm",
}  # fmt: skip
# Faults that bite later, when the device is next asked something (the next ignition, the arc
# end, the next request on a degraded link): a rig measures their reaction from the fault.
ARMED_VERBS = frozenset(
    {"arc_start_failure", "wire_stick", "stall", "half_open", "slow", "corrupt", "truncate",
     "garbage", "modbus_exception", "wire_insulated"}
)  # fmt: skip
# Pressures the switches read as low and as fine (bar).
GAS_LOW_BAR, GAS_OK_BAR = 0.8, 4.5
AIR_LOW_BAR, AIR_OK_BAR = 2.0, 6.0
ARC_START_FAILURES_DEFAULT = 10  # every retry fails


class InjectionError(ValueError):
    """A command that does not fit ``VERBS``, or a device the cell does not have."""


@dataclass(frozen=True)
class Injected:
    """What a command did: whether it is a cause (a fault comes of it), armed (it bites at
    the device's next request) and which device's link it restored, if any."""

    cause: bool
    armed: bool
    restored: str | None = None


class InjectableCell(Protocol):
    """What the table acts on (``sim.cell.SimulatedCell``)."""

    plc: Any
    power_source: Any
    robot: Any
    sensor: Any
    touch: Any

    async def unplug(self, device: str) -> None: ...

    async def plug_in(self, device: str) -> None: ...


def check(line: str) -> str:
    """``line`` if it is a command of the table; ``InjectionError`` saying what it takes."""
    verb, *args = line.split() or [""]
    if verb not in VERBS:
        raise InjectionError(f"unknown verb {verb!r}; known: {', '.join(sorted(VERBS))}")
    usage = VERBS[verb].split()
    if "device" in usage and (not args or args[0] not in DEVICES):
        raise InjectionError(f"{verb} needs a device ({', '.join(DEVICES)}): {line!r}")
    required = [u for u in usage if not u.startswith("[")]
    if len(args) < len(required) or len(args) > len(usage):
        raise InjectionError(f"{verb} takes: {verb} {VERBS[verb]}".rstrip())
    numbers = args[1:] if "device" in usage else ([] if verb == "press" else args)
    for number in numbers:
        try:
            float(number)
        except ValueError:
            raise InjectionError(f"{verb}: {number!r} is not a number") from None
    return line


async def inject(cell: InjectableCell, line: str) -> Injected:
    """Carry out one command of the table on ``cell`` (checked first)."""
    verb, *args = check(line).split()
    plc, source = cell.plc, cell.power_source
    device = args[0] if args and args[0] in DEVICES else ""
    wire = {"plc": plc, "power_source": source, "robot": cell.robot}.get(device)
    if verb in ("door_open", "door_close"):
        plc.set_door_open(verb == "door_open")
        return Injected(verb == "door_open", False)
    if verb in ("estop", "estop_release"):
        plc.set_estop(verb == "estop")
        return Injected(verb == "estop", False)
    if verb in ("light_curtain_block", "light_curtain_clear"):
        plc.set_light_curtain_blocked(verb == "light_curtain_block")
        return Injected(verb == "light_curtain_block", False)
    if verb in ("gas_pressure_low", "gas_pressure_ok"):
        plc.set_gas_pressure_bar(GAS_LOW_BAR if verb == "gas_pressure_low" else GAS_OK_BAR)
        return Injected(verb == "gas_pressure_low", False)
    if verb in ("air_pressure_low", "air_pressure_ok"):
        plc.set_air_pressure_bar(AIR_LOW_BAR if verb == "air_pressure_low" else AIR_OK_BAR)
        return Injected(verb == "air_pressure_low", False)
    if verb == "link_cut":
        await cell.unplug(device)
        return Injected(True, False)
    if verb == "link_restore":
        await cell.plug_in(device)
        return Injected(False, False, restored=device)
    if verb in ("rsi_late", "rsi_loss"):
        robot = cell.robot
        if not hasattr(robot, "loss_share"):
            raise InjectionError(f"{verb}: the cell's robot is not on RSI")
        if verb == "rsi_late":
            robot.late_answers_left = int(float(args[1])) if len(args) > 1 else None
            robot.answer_delay_ms = float(args[0])
            # It bites once the robot's limit of late answers in a row is passed.
            return Injected(float(args[0]) > 0, float(args[0]) > 0)
        robot.loss_share = min(1.0, max(0.0, float(args[0])))
        return Injected(robot.loss_share > 0, False)
    if verb.startswith("egm_"):
        return _inject_egm(cell.robot, verb, args)
    if device == "robot" and hasattr(cell.robot, "loss_share"):
        if verb != "wire_clear":
            raise InjectionError(f"{verb}: the robot is on RSI (use rsi_late, rsi_loss, link_cut)")
        cell.robot.answer_delay_ms = cell.robot.loss_share = 0.0
        cell.robot.late_answers_left = None
        return Injected(False, False, restored=device)
    if device == "robot" and hasattr(cell.robot, "sensor_loss_share"):
        if verb != "wire_clear":
            raise InjectionError(
                f"{verb}: the robot is on EGM (use egm_late, egm_loss, egm_sensor_drop, link_cut)"
            )
        _inject_egm(cell.robot, "egm_sensor_clear", [])
        return Injected(False, False, restored=device)
    if verb in ("stall", "half_open"):
        wire.faults.set("stall")
    elif verb == "slow":
        wire.faults.set("delay", delay_s=float(args[1]) / 1000)
    elif verb in ("corrupt", "truncate", "garbage"):
        wire.faults.set(verb, frames=int(args[1]) if len(args) > 1 else 1)
    elif verb == "wire_clear":
        wire.faults.clear()
        return Injected(False, False, restored=device)
    elif verb == "modbus_exception":
        _modbus_image(cell, device).exception_code = int(args[1])
    elif verb == "modbus_exception_clear":
        _modbus_image(cell, device).exception_code = None
        return Injected(False, False)
    elif verb == "arc_start_failure":
        source.inject(
            "ignition_failure", count=int(args[0]) if args else ARC_START_FAILURES_DEFAULT
        )
    elif verb in ("arc_break", "wire_stick", "gas_fault"):
        source.inject(verb)
    elif verb == "power_source_error":
        source.inject(f"error:{int(args[0])}")
    elif verb == "power_source_clear":
        source.clear_faults()
        return Injected(False, False)
    elif verb in ("sensor_blind", "sensor_clear"):
        if cell.sensor is None:
            raise InjectionError("no simulated sensor (sensor.enabled is false in the cell config)")
        cell.sensor.renderer.blind(verb == "sensor_blind")
        return Injected(verb == "sensor_blind", False)
    elif verb == "press":
        plc.press(args[0])
        return Injected(False, False)
    elif verb == "part_temperature":
        plc.part_heat.set_temperature_c(float(args[0]))
        return Injected(False, False)
    elif verb == "torch_collision":
        cell.touch.inject_collision()
        cell.robot.trip_collision()
    elif verb in ("wire_insulated", "wire_clean"):
        cell.touch.insulated = verb == "wire_insulated"
        insulated = verb == "wire_insulated"
        return Injected(insulated, insulated)  # it bites at the next touch search
    elif verb == "torch_bend":
        cell.touch.torch.bend((float(args[0]), float(args[1]), float(args[2])))
        return Injected(False, False)  # found by the next TCP check, no fault by itself
    elif verb == "stick_out":
        cell.touch.torch.stick_out_error_mm = float(args[0])
        return Injected(False, False)
    return Injected(True, verb in ARMED_VERBS)


def _inject_egm(robot: Any, verb: str, args: list[str]) -> Injected:
    """The EGM robot's network faults (``sim.devices.robot_egm``)."""
    if not hasattr(robot, "sensor_loss_share"):
        raise InjectionError(f"{verb}: the cell's robot is not on EGM")
    if verb == "egm_late":
        robot.sensor_delay_ms = max(0.0, float(args[0]))
        return Injected(robot.sensor_delay_ms > 0, False)
    if verb == "egm_loss":
        robot.sensor_loss_share = min(1.0, max(0.0, float(args[0])))
        return Injected(robot.sensor_loss_share > 0, False)
    robot.drop_sensor_messages(verb == "egm_sensor_drop")
    if verb == "egm_sensor_clear":
        robot.sensor_delay_ms = robot.sensor_loss_share = 0.0
    # Dropping bites once the robot's comm timeout has passed.
    dropping = verb == "egm_sensor_drop"
    return Injected(dropping, dropping)


def _modbus_image(cell: InjectableCell, device: str) -> Any:
    if device == "robot":
        raise InjectionError("modbus_exception: the robot does not speak Modbus")
    return cell.plc.image if device == "plc" else cell.power_source.image
