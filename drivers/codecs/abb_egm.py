"""ABB EGM (Externally Guided Motion) path correction on the wire: pure, bytes in, messages out.

The robot sends ``EgmRobot`` (header: sequence number, its time in ms, MSGTYPE_DATA; the
actual tool pose in mm and a quaternion; the planned pose; motor, EGM (MCI) and RAPID execution
state) every sample, over UDP. While ``EGMMoveL`` / ``EGMMoveC`` run, the sensor answers with
``EgmSensorPathCorr`` (header: its own sequence number and time, MSGTYPE_PATH_CORRECTION; a
displacement in path coordinates and the age of the measurement it comes from, ms). The
messages are ABB's own, from ``egm.proto`` (``drivers.codecs.egm_proto``), encoded by Google's
protobuf runtime; this module turns them into the cell's plain, frozen types and back, and says
what a message must carry to be used.

Path coordinates: y is the lateral offset and z the vertical one, x (along the path) is not
used by path correction and is sent as 0. The offset is absolute, from the programmed path,
never an increment. ``egm.proto`` puts it "relative the sensor tool coordinate system" (the
sensor frame ``EGMActMove`` is given); the signs of y and z against the cell's seam frame are
checked on the robot, not here (docs/robots/abb/README.md, "Checked against published sources").

Every decoder raises ``EgmCodecError`` (a ``ValueError``) for anything it cannot use, and
nothing else: bytes that are no protobuf message, a message of the other kind, one without
the header or pose it needs, a non-finite number. Encoders raise ``EgmEncodeError`` for values
the wire cannot carry (a sequence number beyond 32 bits, a NaN), before anything is built.
Orientation: the cell's poses carry angles about Z, Y, X in degrees (KUKA's A, B, C, applied in
that order); EGM carries a unit quaternion (u0 the scalar part), turned by
``quaternion_from_zyx_deg`` / ``zyx_deg_from_quaternion``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from google.protobuf.message import DecodeError, EncodeError

from drivers.codecs.egm_proto import egm_pb2

Vector = tuple[float, float, float]
Quaternion = tuple[float, float, float, float]  # (u0, u1, u2, u3): scalar first, as ABB's

UINT32_MAX = 0xFFFF_FFFF
IDENTITY: Quaternion = (1.0, 0.0, 0.0, 0.0)
# A datagram bigger than this is no EGM message (a full EgmRobot is a few hundred bytes):
# refused before protobuf spends time on it.
MAX_DATAGRAM_BYTES = 4_096


class EgmCodecError(ValueError):
    """Bytes that are not a usable EGM message of the kind asked for."""


class EgmEncodeError(EgmCodecError):
    """Values an EGM message cannot carry (nothing was built)."""


class MessageType(enum.IntEnum):
    """``EgmHeader.MessageType``."""

    UNDEFINED = 0
    COMMAND = 1
    DATA = 2  # sent by the robot controller
    CORRECTION = 3  # sent by a sensor for position guidance
    PATH_CORRECTION = 4  # sent by a sensor for path correction


class MotorState(enum.IntEnum):
    """``EgmMotorState.MotorStateType``."""

    UNDEFINED = 0
    ON = 1
    OFF = 2


class MciState(enum.IntEnum):
    """``EgmMCIState.MCIStateType``: the state of EGM itself on the robot."""

    UNDEFINED = 0
    ERROR = 1  # EGM stopped on an error (a communication timeout among them)
    STOPPED = 2
    RUNNING = 3


class RapidExecState(enum.IntEnum):
    """``EgmRapidCtrlExecState.RapidCtrlExecStateType``: whether the RAPID program runs."""

    UNDEFINED = 0
    STOPPED = 1
    RUNNING = 2


@dataclass(frozen=True, slots=True)
class EgmPose:
    """A pose as EGM carries it: position in mm, orientation as a unit quaternion."""

    position_mm: Vector
    orientation: Quaternion = IDENTITY


@dataclass(frozen=True, slots=True)
class EgmRobotMessage:
    """One ``EgmRobot`` feedback message (robot → sensor).

    ``robot_time_ms`` is the header's ``tm``, the robot's send time stamp (ms, wraps at 2³²).
    ``planned`` is where the programmed path is now (no correction), when the robot sends it.
    ``convergence_met`` and ``utilization_rate`` are ``None`` when the message lacks them.
    """

    seqno: int
    robot_time_ms: int
    feedback: EgmPose
    planned: EgmPose | None = None
    motor_state: MotorState = MotorState.UNDEFINED
    mci_state: MciState = MciState.UNDEFINED
    rapid_exec_state: RapidExecState = RapidExecState.UNDEFINED
    convergence_met: bool | None = None
    utilization_rate: float | None = None


@dataclass(frozen=True, slots=True)
class EgmPathCorrectionMessage:
    """One ``EgmSensorPathCorr`` (sensor → robot): an absolute offset from the programmed path
    in path coordinates (``lateral_mm`` = y, ``vertical_mm`` = z), and ``age_ms``, how old the
    measurement behind it is. ``sensor_time_ms`` is the sender's own time stamp."""

    seqno: int
    sensor_time_ms: int
    lateral_mm: float
    vertical_mm: float
    age_ms: int


# -- orientation --------------------------------------------------------------------------------


def quaternion_from_zyx_deg(
    about_z_deg: float, about_y_deg: float, about_x_deg: float
) -> Quaternion:
    """The unit quaternion of a rotation about Z, then the new Y, then the new X (degrees)."""
    hz, hy, hx = (math.radians(a) / 2 for a in (about_z_deg, about_y_deg, about_x_deg))
    cz, sz, cy, sy, cx, sx = (
        math.cos(hz), math.sin(hz), math.cos(hy), math.sin(hy), math.cos(hx), math.sin(hx)
    )  # fmt: skip
    return (
        cz * cy * cx + sz * sy * sx,
        cz * cy * sx - sz * sy * cx,
        cz * sy * cx + sz * cy * sx,
        sz * cy * cx - cz * sy * sx,
    )


def zyx_deg_from_quaternion(q: Quaternion) -> Vector:
    """(about Z, about Y, about X) in degrees of a quaternion (normalised first; the identity
    for a zero one). At ±90° about Y (gimbal lock) the X angle is folded into Z."""
    size = math.sqrt(sum(c * c for c in q))
    if not size > 0:
        return (0.0, 0.0, 0.0)
    w, x, y, z = (c / size for c in q)
    sin_y = max(-1.0, min(1.0, 2 * (w * y - z * x)))
    about_y = math.asin(sin_y)
    about_z = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    about_x = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    return (math.degrees(about_z), math.degrees(about_y), math.degrees(about_x))


# -- decoding -----------------------------------------------------------------------------------


def _parse(message, data: bytes, what: str):
    if len(data) > MAX_DATAGRAM_BYTES:
        raise EgmCodecError(f"{len(data)} bytes is too long for an {what}")
    try:
        message.ParseFromString(bytes(data))
    except (DecodeError, ValueError, RecursionError, TypeError) as error:
        raise EgmCodecError(f"not an {what}: {error}") from error
    return message


def _header(message, what: str, expected: MessageType) -> tuple[int, int]:
    if not message.HasField("header"):
        raise EgmCodecError(f"{what} without a header")
    header = message.header
    if not (header.HasField("seqno") and header.HasField("tm")):
        raise EgmCodecError(f"{what} header without seqno or tm")
    if header.mtype != expected:
        raise EgmCodecError(
            f"{what} of message type {header.mtype} (expected {expected.name}, {int(expected)})"
        )
    return header.seqno, header.tm


def _finite(values: tuple[float, ...], what: str) -> None:
    if not all(math.isfinite(v) for v in values):
        raise EgmCodecError(f"{what} is not finite: {values}")


def _pose(pose, what: str) -> EgmPose:
    if not (pose.HasField("pos") and pose.HasField("orient")):
        raise EgmCodecError(f"{what} without position or orientation")
    position = (pose.pos.x, pose.pos.y, pose.pos.z)
    orient = pose.orient
    orientation = (orient.u0, orient.u1, orient.u2, orient.u3)
    _finite(position + orientation, what)
    return EgmPose(position, orientation)


def _known(kind: type[enum.IntEnum], value: int) -> enum.IntEnum:
    try:
        return kind(value)
    except ValueError:  # a newer robot's value: as good as undefined here
        return kind(0)


def decode_robot(data: bytes) -> EgmRobotMessage:
    """An ``EgmRobot`` feedback message; ``EgmCodecError`` unless it has a header of type DATA
    with seqno and tm, and a finite feedback pose."""
    what = "EgmRobot"
    message = _parse(egm_pb2.EgmRobot(), data, what)
    seqno, robot_time_ms = _header(message, what, MessageType.DATA)
    if not (message.HasField("feedBack") and message.feedBack.HasField("cartesian")):
        raise EgmCodecError(f"{what} without a feedback pose")
    feedback = _pose(message.feedBack.cartesian, f"{what} feedback pose")
    planned = None
    if message.HasField("planned") and message.planned.HasField("cartesian"):
        planned = _pose(message.planned.cartesian, f"{what} planned pose")
    utilization = message.utilizationRate if message.HasField("utilizationRate") else None
    if utilization is not None and not math.isfinite(utilization):
        raise EgmCodecError(f"{what} utilization rate is not finite: {utilization}")
    return EgmRobotMessage(
        seqno=seqno,
        robot_time_ms=robot_time_ms,
        feedback=feedback,
        planned=planned,
        motor_state=_known(MotorState, message.motorState.state),  # type: ignore[arg-type]
        mci_state=_known(MciState, message.mciState.state),  # type: ignore[arg-type]
        rapid_exec_state=_known(  # type: ignore[arg-type]
            RapidExecState, message.rapidExecState.state
        ),
        convergence_met=(
            message.mciConvergenceMet if message.HasField("mciConvergenceMet") else None
        ),
        utilization_rate=utilization,
    )


def decode_path_correction(data: bytes) -> EgmPathCorrectionMessage:
    """An ``EgmSensorPathCorr``; ``EgmCodecError`` unless it has a header of type
    PATH_CORRECTION with seqno and tm, and a finite correction with its age."""
    what = "EgmSensorPathCorr"
    message = _parse(egm_pb2.EgmSensorPathCorr(), data, what)
    seqno, sensor_time_ms = _header(message, what, MessageType.PATH_CORRECTION)
    if not message.HasField("pathCorr"):
        raise EgmCodecError(f"{what} without a path correction")
    correction = message.pathCorr
    _finite((correction.pos.x, correction.pos.y, correction.pos.z), f"{what} correction")
    return EgmPathCorrectionMessage(
        seqno=seqno,
        sensor_time_ms=sensor_time_ms,
        lateral_mm=correction.pos.y,
        vertical_mm=correction.pos.z,
        age_ms=correction.age,
    )


# -- encoding -----------------------------------------------------------------------------------


def _check_uint32(**values: int) -> None:
    for name, value in values.items():
        if not (isinstance(value, int) and 0 <= value <= UINT32_MAX):
            raise EgmEncodeError(f"{name} {value!r} does not fit 32 unsigned bits")


def _check_finite(what: str, values: tuple[float, ...]) -> None:
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in values):
        raise EgmEncodeError(f"{what} is not finite: {values}")


def _fill_pose(target, pose: EgmPose, what: str) -> None:
    _check_finite(what, tuple(pose.position_mm) + tuple(pose.orientation))
    target.pos.x, target.pos.y, target.pos.z = pose.position_mm
    target.orient.u0, target.orient.u1, target.orient.u2, target.orient.u3 = pose.orientation


def encode_robot(message: EgmRobotMessage) -> bytes:
    """The ``EgmRobot`` bytes of ``message`` (the simulated robot's side)."""
    _check_uint32(seqno=message.seqno, robot_time_ms=message.robot_time_ms)
    out = egm_pb2.EgmRobot()
    out.header.seqno = message.seqno
    out.header.tm = message.robot_time_ms
    out.header.mtype = MessageType.DATA
    _fill_pose(out.feedBack.cartesian, message.feedback, "feedback pose")
    if message.planned is not None:
        _fill_pose(out.planned.cartesian, message.planned, "planned pose")
    out.motorState.state = int(message.motor_state)
    out.mciState.state = int(message.mci_state)
    out.rapidExecState.state = int(message.rapid_exec_state)
    if message.convergence_met is not None:
        out.mciConvergenceMet = message.convergence_met
    if message.utilization_rate is not None:
        _check_finite("utilization rate", (message.utilization_rate,))
        out.utilizationRate = message.utilization_rate
    return _serialise(out)


def encode_path_correction(message: EgmPathCorrectionMessage) -> bytes:
    """The ``EgmSensorPathCorr`` bytes of ``message`` (the controller's side)."""
    _check_uint32(seqno=message.seqno, sensor_time_ms=message.sensor_time_ms, age_ms=message.age_ms)
    _check_finite("path correction", (message.lateral_mm, message.vertical_mm))
    out = egm_pb2.EgmSensorPathCorr()
    out.header.seqno = message.seqno
    out.header.tm = message.sensor_time_ms
    out.header.mtype = MessageType.PATH_CORRECTION
    out.pathCorr.pos.x = 0.0  # along the path: not used by path correction
    out.pathCorr.pos.y = message.lateral_mm
    out.pathCorr.pos.z = message.vertical_mm
    out.pathCorr.age = message.age_ms
    return _serialise(out)


def _serialise(message) -> bytes:
    try:
        return message.SerializeToString()
    except EncodeError as error:  # a required field left out: a bug here, said plainly
        raise EgmEncodeError(f"{type(message).__name__} is incomplete: {error}") from error
