"""The robot's serial protocol: frames, messages and a stream decoder. Pure: no I/O, no asyncio.

The controller's driver (``drivers.robot``) and the simulated robot (``sim.devices.robot``)
share this one codec, so both ends of the wire agree byte for byte and a property test can fuzz it.

Frame
-----
Little-endian throughout::

    offset  size  field
    0       2     sync            0xA5 0x5A
    2       1     version         PROTOCOL_VERSION (1); a frame of any other version is skipped
    3       2     seq             u16, wraps; the controller numbers every frame it sends from
                                  one counter (corrections too); an answer carries its request's
    5       1     message type    MessageType
    6       2     payload length  u16, at most MAX_PAYLOAD_BYTES (64); longer is skipped at once
    8       n     payload         the message's fields, layout per type below
    8+n     2     CRC-16          CRC-16/CCITT-FALSE (``binascii.crc_hqx(data, 0xFFFF)``) over
                                  bytes 2 .. 8+n-1, i.e. everything after the sync bytes

Ten bytes of framing: a CORRECTION frame is 18 bytes (1.6 ms at 115200 baud, so 250 Hz uses
about 40 % of the line), a STATUS frame 63 bytes (5.5 ms).

Real numbers travel as float32: at 1000 mm its resolution is 0.06 µm, far below what a welding
robot repeats, and it keeps the 250 Hz correction stream small on a real serial line.

Requests (controller → robot)
-----------------------------
=================  ====  =====================================================  ==========
type               code  payload                                                idempotent
=================  ====  =====================================================  ==========
MOVE_LINEAR        0x01  pose (6 × f32: x, y, z mm; rx, ry, rz deg),            no
                         speed mm/s (f32), path_id (u16)
MOVE_JOINT         0x02  pose (6 × f32), speed % of the robot's max (f32)       no
HOLD               0x03  (none)                                                 yes
RESUME             0x04  (none)                                                 yes
STOP               0x05  (none)                                                 yes
STATUS_REQUEST     0x06  (none)                                                 yes
CORRECTION         0x07  lateral mm (f32), vertical mm (f32)                    no response
WEAVE              0x08  path_id (u16), pattern (u8, weave.WeavePattern),       yes
                         amplitude left mm, amplitude right mm, pitch mm,
                         dwell left mm, dwell right mm, plane angle deg (6 × f32)
MOVE_CIRCULAR      0x09  via point (3 × f32: x, y, z mm), end pose (6 × f32),   no
                         speed mm/s (f32), path_id (u16)
SEARCH             0x0A  start pose (6 × f32), direction (3 × f32, unit),       no
                         speed mm/s (f32), distance mm (f32), search_id (u16)
SEARCH_RESULT_REQ  0x0B  search_id (u16)                                        yes
=================  ====  =====================================================  ==========

Every request but CORRECTION is answered with exactly one ACK, NAK or (for STATUS_REQUEST)
STATUS frame carrying the request's seq. The driver may retry an idempotent request whose answer
did not come; it must never retry a non-idempotent one, since the first copy may have arrived
and its answer been lost: a second MOVE would queue a second segment.

- MOVE_LINEAR queues a straight segment from the end of the last queued segment (or from the
  current pose) to ``pose`` at ``speed_mm_per_s``. Consecutive moves with the same nonzero
  ``path_id`` form one continuous path: the robot blends through the vertices without stopping
  as long as the next segment is queued in time, and decelerates to stop at the end of the last
  queued one. Path position is the distance travelled along that path. ``path_id`` 0 means "a
  path of its own": the robot stops at the end of that segment.
- MOVE_CIRCULAR queues a circular arc from the end of the last queued segment through ``via``
  to ``pose`` (at most just under a full turn; a part program's full circle is sent as two
  halves), blended into its path like MOVE_LINEAR. On the arc the seam frame (hence the
  direction of a correction and of the weave) follows the tangent. NAK BAD_ARC when the
  three points lie on one line or the radius is below the robot's ``min_arc_radius_mm``.
- MOVE_JOINT moves to ``pose`` at ``speed_percent`` of the robot's maximum speed, never blended.
- HOLD decelerates to a standstill on the path and keeps the queue; moves sent while held are
  queued but do not start. RESUME continues. STOP decelerates, clears the queue and any fault;
  moves sent while it brakes start a new path from where the tool comes to rest.
- RESUME is idempotent because it names a state, not a step: "the path may continue". A second
  RESUME while moving (or idle) is answered ok and changes nothing, so a retry after a lost ACK
  can never make the robot do more than the controller asked; RESUME is refused in a fault.
- CORRECTION is fire-and-forget, streamed at up to 250 Hz while a path runs: an offset to the
  path in the seam frame (lateral: horizontal, perpendicular to travel, positive to the left of
  travel seen from above; vertical: perpendicular to travel, upwards). Each frame replaces the
  previous offset; the robot clamps and rate-limits it, and STATUS reports the seq of the last
  correction it applied. A lost correction is superseded by the next one, so none is retried.
- WEAVE tells the robot how path ``path_id`` weaves (``drivers.codecs.weave``): the robot
  makes the weave itself, laid out along the path, on top of the path and its correction, from
  the path's start (or at once, on the path being run) to its end. Sent before the path's
  first MOVE_LINEAR; pattern NONE takes a weave back. It names a state ("path N weaves so"),
  so it is idempotent. NAK WEAVE_OVER_LIMIT for parameters the robot cannot run (amplitude
  beyond its limit, dwells longer than the pitch), BAD_MESSAGE for a NaN or path_id 0.
  STATUS's pose is the actual tool point, weave included; path position is the path's.
- SEARCH is a touch-sensing search move (wire touch, before the arc): from ``start`` (where the
  tool must stand, idle: NAK NOT_ALLOWED otherwise) straight along ``direction`` at
  ``speed_mm_per_s`` for at most ``distance_mm``. The robot watches its touch-sense input (the
  power source's contact signal, wired to it) and stops at the first contact, latching the
  tool pose at that instant; without contact it stops at the end of the distance. NAK
  BAD_MESSAGE for a NaN, a direction whose length is not 1 ± 0.01, a distance not above zero or
  search_id 0; SPEED_OVER_LIMIT not above zero or above ``MAX_SEARCH_SPEED_MM_PER_S``;
  OUT_OF_WORKSPACE when the start or the end of the distance lies outside. While it runs the
  robot reports MOVING; a path id 0 single move, so HOLD, STOP and faults act on it as on
  any move (a stopped search ends ABORTED).
- SEARCH_RESULT_REQ asks how search ``search_id`` ended: answered with SEARCH_RESULT
  (RUNNING until it has; UNKNOWN for an id the robot does not remember). Idempotent.

Responses (robot → controller)
------------------------------
=======  ====  ===================================================================
type     code  payload
=======  ====  ===================================================================
ACK      0x80  request type (u8)
NAK      0x81  request type (u8), result code (u8, ResultCode)
STATUS   0x82  state (u8, RobotState), pose (6 × f32), path_id (u16),
               path position mm (f32), path length queued mm (f32), tool speed mm/s (f32),
               queue depth (u16), applied lateral mm (f32), applied vertical mm (f32),
               last applied correction seq (u16), fault code (u16, FaultCode)
SEARCH_  0x83  search_id (u16), outcome (u8, SearchOutcome), contact pose (6 × f32: the
RESULT         tool pose latched at contact; the stop pose otherwise), travelled mm (f32)
=======  ====  ===================================================================

Result codes (NAK): see ``ResultCode`` and ``RESULT_TEXT``. Fault codes: ``FaultCode``.

Decoding a stream
-----------------
``FrameDecoder.feed(bytes)`` returns the complete frames found so far and never raises: garbage
between frames, CRC failures, frames cut short, absurd lengths and foreign versions are counted
and skipped, and the decoder resynchronises on the next sync pair. A header is judged before its
body is awaited, and an incomplete frame is abandoned as soon as an intact one starts inside it,
so no garbage can make the decoder sit on a good frame. A frame whose CRC is good but whose payload
does not decode (unknown type, wrong length, unknown enum value) comes out as ``BadMessage``, so
that the robot can answer it with NAK ``BAD_MESSAGE``. ``decode_frame`` decodes exactly one
frame and raises a ``FrameError`` subclass; ``encode_frame`` raises ``EncodeError``.
"""

from __future__ import annotations

import binascii
import enum
import math
import struct
from dataclasses import dataclass, fields
from typing import ClassVar, TypeVar

from drivers.codecs.weave import WeavePattern, WeaveShape

SYNC = b"\xa5\x5a"
PROTOCOL_VERSION = 1
MAX_PAYLOAD_BYTES = 64
# After the sync bytes: version (u8), seq (u16), message type (u8), payload length (u16).
_HEADER = struct.Struct("<BHBH")
_CRC = struct.Struct("<H")
HEADER_BYTES = len(SYNC) + _HEADER.size
FRAME_OVERHEAD_BYTES = HEADER_BYTES + _CRC.size
MAX_FRAME_BYTES = FRAME_OVERHEAD_BYTES + MAX_PAYLOAD_BYTES
SEQ_MODULO = 1 << 16

_Code = TypeVar("_Code", bound=enum.IntEnum)


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor)."""
    return binascii.crc_hqx(data, 0xFFFF)


# -- codes ------------------------------------------------------------------------------------


class MessageType(enum.IntEnum):
    MOVE_LINEAR = 0x01
    MOVE_JOINT = 0x02
    HOLD = 0x03
    RESUME = 0x04
    STOP = 0x05
    STATUS_REQUEST = 0x06
    CORRECTION = 0x07
    WEAVE = 0x08
    MOVE_CIRCULAR = 0x09
    SEARCH = 0x0A
    SEARCH_RESULT_REQUEST = 0x0B
    ACK = 0x80
    NAK = 0x81
    STATUS = 0x82
    SEARCH_RESULT = 0x83


class ResultCode(enum.IntEnum):
    """Why the robot refused a request (carried by NAK; ACK means OK)."""

    OK = 0
    BUSY = 1  # the motion queue is full; send again once a segment has completed
    OUT_OF_WORKSPACE = 2  # the target lies outside the robot's workspace
    SPEED_OVER_LIMIT = 3  # speed above the robot's maximum, or not above zero
    NOT_ALLOWED = 4  # not in this state (a robot fault: STOP it first)
    DRIVES_OFF = 5  # the drives have no power (the PLC took robot enable away)
    BAD_MESSAGE = 6  # the frame was intact but its type or payload makes no sense (NaN, length)
    WEAVE_OVER_LIMIT = 7  # a weave the robot cannot run (amplitude, pitch, dwells)
    BAD_ARC = 8  # a circle through three points on one line, or tighter than the robot's limit


RESULT_TEXT: dict[ResultCode, str] = {
    ResultCode.OK: "ok",
    ResultCode.BUSY: "busy: motion queue full",
    ResultCode.OUT_OF_WORKSPACE: "target outside the workspace",
    ResultCode.SPEED_OVER_LIMIT: "speed over the robot's limit (or not above zero)",
    ResultCode.NOT_ALLOWED: "not allowed in the robot's present state",
    ResultCode.DRIVES_OFF: "drives off",
    ResultCode.BAD_MESSAGE: "bad message",
    ResultCode.WEAVE_OVER_LIMIT: "weave beyond the robot's limits",
    ResultCode.BAD_ARC: "no such arc (points on one line, or radius below the robot's minimum)",
}


def result_text(code: int) -> str:
    try:
        return RESULT_TEXT[ResultCode(code)]
    except ValueError:
        return f"unknown result code {code}"


class RobotState(enum.IntEnum):
    IDLE = 0  # drives on, standing still, nothing queued (or all of it done)
    MOVING = 1  # running (or about to start) the queued motion
    HOLDING = 2  # decelerating to a standstill on the path (HOLD, or a watchdog fault)
    HELD = 3  # standing still on the path, queue kept; RESUME continues
    STOPPED = 4  # STOP received: decelerating or standing, queue cleared
    FAULT = 5  # standing still after a fault (fault_code says which); STOP clears it
    DRIVES_OFF = 6  # no drive power; re-enabled drives stay idle until a new command


class FaultCode(enum.IntEnum):
    NONE = 0
    CORRECTION_STREAM_LOST = 1  # corrections stopped mid-path for correction_watchdog_ms
    CONTROLLER_LINK_LOST = 2  # no request at all while moving for link_watchdog_ms
    TORCH_COLLISION = 3  # the torch's breakaway switch opened (wired to the robot's stop)


FAULT_TEXT: dict[FaultCode, str] = {
    FaultCode.NONE: "no fault",
    FaultCode.CORRECTION_STREAM_LOST: "correction stream lost",
    FaultCode.CONTROLLER_LINK_LOST: "controller link lost",
    FaultCode.TORCH_COLLISION: "torch collision (breakaway switch)",
}


class SearchOutcome(enum.IntEnum):
    """How a SEARCH ended (SEARCH_RESULT)."""

    RUNNING = 0  # still searching
    CONTACT = 1  # the wire touched: the pose is the one latched at contact
    NOT_FOUND = 2  # the whole distance without contact
    ABORTED = 3  # stopped before either (STOP, HOLD, a fault, drives off)
    UNKNOWN = 4  # no search with that id is remembered


SEARCH_DIRECTION_TOLERANCE = 0.01  # |direction| must be 1 within this
# A search faster than this would bend the wire (or push the torch in) before the robot stops.
MAX_SEARCH_SPEED_MM_PER_S = 50.0


def fault_text(code: int) -> str:
    try:
        return FAULT_TEXT[FaultCode(code)]
    except ValueError:
        return f"unknown fault code {code}"


# -- errors -----------------------------------------------------------------------------------


class FrameError(ValueError):
    """Base of every codec error: the bytes are not a valid frame, or a message cannot be sent."""


class EncodeError(FrameError):
    """A message's fields do not fit the wire (an int out of range, a float beyond float32)."""


class TruncatedFrame(FrameError):
    """Fewer bytes than the header says the frame has."""


class BadSync(FrameError):
    """The frame does not start with the sync bytes."""


class BadVersion(FrameError):
    """The frame's version byte is not PROTOCOL_VERSION."""


class OversizeLength(FrameError):
    """The payload length field is above MAX_PAYLOAD_BYTES: garbage, or a foreign protocol."""


class CrcMismatch(FrameError):
    """The CRC does not match: bytes were flipped, dropped or inserted on the wire."""


class BadPayload(FrameError):
    """An intact frame (CRC good) whose type or payload cannot be decoded."""

    def __init__(self, seq: int, type_code: int, reason: str) -> None:
        self.seq = seq
        self.type_code = type_code
        self.reason = reason
        super().__init__(f"frame seq {seq} type 0x{type_code:02x}: {reason}")


# -- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pose:
    """A tool-point pose in the robot's base frame: position in mm, orientation in degrees."""

    x_mm: float
    y_mm: float
    z_mm: float
    rx_deg: float = 0.0
    ry_deg: float = 0.0
    rz_deg: float = 0.0

    @property
    def position_mm(self) -> tuple[float, float, float]:
        return (self.x_mm, self.y_mm, self.z_mm)

    def values(self) -> tuple[float, float, float, float, float, float]:
        return (self.x_mm, self.y_mm, self.z_mm, self.rx_deg, self.ry_deg, self.rz_deg)

    def is_finite(self) -> bool:
        return all(math.isfinite(v) for v in self.values())

    def tool_to_base(self, vector: tuple[float, float, float]) -> tuple[float, float, float]:
        """``vector`` given in the tool's frame, in the base frame: turned by the orientation,
        ``Rz(rz)·Ry(ry)·Rx(rx)`` (about the base's fixed axes, x first; the same Z-Y-X angles
        as KUKA's A, B, C and ABB's Euler ZYX). With all angles 0 the frames agree."""
        x, y, z = vector
        rx, ry, rz = (math.radians(a) for a in (self.rx_deg, self.ry_deg, self.rz_deg))
        y, z = y * math.cos(rx) - z * math.sin(rx), y * math.sin(rx) + z * math.cos(rx)
        x, z = x * math.cos(ry) + z * math.sin(ry), -x * math.sin(ry) + z * math.cos(ry)
        x, y = x * math.cos(rz) - y * math.sin(rz), x * math.sin(rz) + y * math.cos(rz)
        return (x, y, z)

    def base_to_tool(self, vector: tuple[float, float, float]) -> tuple[float, float, float]:
        """The inverse of ``tool_to_base``: a base-frame ``vector`` in the tool's frame."""
        x, y, z = vector
        rx, ry, rz = (math.radians(a) for a in (self.rx_deg, self.ry_deg, self.rz_deg))
        x, y = x * math.cos(rz) + y * math.sin(rz), -x * math.sin(rz) + y * math.cos(rz)
        x, z = x * math.cos(ry) - z * math.sin(ry), x * math.sin(ry) + z * math.cos(ry)
        y, z = y * math.cos(rx) + z * math.sin(rx), -y * math.sin(rx) + z * math.cos(rx)
        return (x, y, z)


class Message:
    """A message on the wire. Subclasses are frozen dataclasses with a fixed payload layout."""

    __slots__ = ()
    message_type: ClassVar[MessageType]
    _layout: ClassVar[struct.Struct]

    def _pack(self) -> bytes:
        return self._layout.pack(*_flatten(self))

    @classmethod
    def _unpack(cls, payload: bytes) -> Message:
        return cls(*cls._layout.unpack(payload))


class Request(Message):
    """A message from the controller to the robot."""

    __slots__ = ()
    # May the driver send it again when its answer does not come? (see the module docstring)
    idempotent: ClassVar[bool]
    # Does the robot answer it? (CORRECTION is fire-and-forget)
    expects_response: ClassVar[bool] = True


class Response(Message):
    """A message from the robot to the controller, answering the request with the same seq."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class MoveLinear(Request):
    message_type: ClassVar[MessageType] = MessageType.MOVE_LINEAR
    idempotent: ClassVar[bool] = False
    _layout: ClassVar[struct.Struct] = struct.Struct("<6ffH")

    pose: Pose
    speed_mm_per_s: float
    path_id: int = 0

    @classmethod
    def _unpack(cls, payload: bytes) -> MoveLinear:
        *pose, speed_mm_per_s, path_id = cls._layout.unpack(payload)
        return cls(Pose(*pose), speed_mm_per_s, path_id)


@dataclass(frozen=True, slots=True)
class MoveCircular(Request):
    """An arc from where the path is through ``via_mm`` to ``pose`` (see the module)."""

    message_type: ClassVar[MessageType] = MessageType.MOVE_CIRCULAR
    idempotent: ClassVar[bool] = False
    _layout: ClassVar[struct.Struct] = struct.Struct("<3f6ffH")

    via_mm: tuple[float, float, float]
    pose: Pose
    speed_mm_per_s: float
    path_id: int = 0

    def _pack(self) -> bytes:
        return self._layout.pack(
            *self.via_mm, *self.pose.values(), self.speed_mm_per_s, self.path_id
        )

    @classmethod
    def _unpack(cls, payload: bytes) -> MoveCircular:
        x, y, z, *pose, speed_mm_per_s, path_id = cls._layout.unpack(payload)
        return cls((x, y, z), Pose(*pose), speed_mm_per_s, path_id)


@dataclass(frozen=True, slots=True)
class MoveJoint(Request):
    message_type: ClassVar[MessageType] = MessageType.MOVE_JOINT
    idempotent: ClassVar[bool] = False
    _layout: ClassVar[struct.Struct] = struct.Struct("<6ff")

    pose: Pose
    speed_percent: float

    @classmethod
    def _unpack(cls, payload: bytes) -> MoveJoint:
        *pose, speed_percent = cls._layout.unpack(payload)
        return cls(Pose(*pose), speed_percent)


@dataclass(frozen=True, slots=True)
class Hold(Request):
    message_type: ClassVar[MessageType] = MessageType.HOLD
    idempotent: ClassVar[bool] = True
    _layout: ClassVar[struct.Struct] = struct.Struct("<")


@dataclass(frozen=True, slots=True)
class Resume(Request):
    message_type: ClassVar[MessageType] = MessageType.RESUME
    idempotent: ClassVar[bool] = True  # a state, not a step: see the module docstring
    _layout: ClassVar[struct.Struct] = struct.Struct("<")


@dataclass(frozen=True, slots=True)
class Stop(Request):
    message_type: ClassVar[MessageType] = MessageType.STOP
    idempotent: ClassVar[bool] = True
    _layout: ClassVar[struct.Struct] = struct.Struct("<")


@dataclass(frozen=True, slots=True)
class StatusRequest(Request):
    message_type: ClassVar[MessageType] = MessageType.STATUS_REQUEST
    idempotent: ClassVar[bool] = True
    _layout: ClassVar[struct.Struct] = struct.Struct("<")


@dataclass(frozen=True, slots=True)
class Correction(Request):
    message_type: ClassVar[MessageType] = MessageType.CORRECTION
    idempotent: ClassVar[bool] = False  # never retried: the next correction supersedes it
    expects_response: ClassVar[bool] = False
    _layout: ClassVar[struct.Struct] = struct.Struct("<ff")

    lateral_mm: float
    vertical_mm: float


@dataclass(frozen=True, slots=True)
class Weave(Request):
    """How path ``path_id`` weaves (see the module docstring and ``drivers.codecs.weave``)."""

    message_type: ClassVar[MessageType] = MessageType.WEAVE
    idempotent: ClassVar[bool] = True  # a state of the path, not a step
    _layout: ClassVar[struct.Struct] = struct.Struct("<HB6f")

    path_id: int
    shape: WeaveShape

    def _pack(self) -> bytes:
        shape = self.shape
        return self._layout.pack(
            self.path_id,
            shape.pattern,
            shape.amplitude_left_mm,
            shape.amplitude_right_mm,
            shape.pitch_mm,
            shape.dwell_left_mm,
            shape.dwell_right_mm,
            shape.plane_angle_deg,
        )

    @classmethod
    def _unpack(cls, payload: bytes) -> Weave:
        path_id, pattern, *values = cls._layout.unpack(payload)
        return cls(path_id, WeaveShape(WeavePattern(pattern), *values))


@dataclass(frozen=True, slots=True)
class Search(Request):
    """A touch-sensing search move (see the module docstring)."""

    message_type: ClassVar[MessageType] = MessageType.SEARCH
    idempotent: ClassVar[bool] = False  # a second copy would search again
    _layout: ClassVar[struct.Struct] = struct.Struct("<6f3fffH")

    start: Pose
    direction: tuple[float, float, float]
    speed_mm_per_s: float
    distance_mm: float
    search_id: int

    def _pack(self) -> bytes:
        return self._layout.pack(
            *self.start.values(),
            *self.direction,
            self.speed_mm_per_s,
            self.distance_mm,
            self.search_id,
        )

    @classmethod
    def _unpack(cls, payload: bytes) -> Search:
        values = cls._layout.unpack(payload)
        return cls(Pose(*values[0:6]), tuple(values[6:9]), *values[9:])  # type: ignore[arg-type]

    def problem(self) -> str:
        """Why the robot cannot take this search as a message (empty when it can)."""
        numbers = (*self.start.values(), *self.direction, self.speed_mm_per_s, self.distance_mm)
        if not all(math.isfinite(v) for v in numbers):
            return "a value is not finite"
        if abs(math.hypot(*self.direction) - 1.0) > SEARCH_DIRECTION_TOLERANCE:
            return f"direction {self.direction} is not a unit vector"
        if self.distance_mm <= 0:
            return f"distance {self.distance_mm} mm is not above zero"
        if self.search_id == 0:
            return "search_id 0"
        return ""

    def end_mm(self) -> tuple[float, float, float]:
        """Where the tool would stand after the whole distance."""
        return (
            self.start.x_mm + self.direction[0] * self.distance_mm,
            self.start.y_mm + self.direction[1] * self.distance_mm,
            self.start.z_mm + self.direction[2] * self.distance_mm,
        )


@dataclass(frozen=True, slots=True)
class SearchResultRequest(Request):
    message_type: ClassVar[MessageType] = MessageType.SEARCH_RESULT_REQUEST
    idempotent: ClassVar[bool] = True
    _layout: ClassVar[struct.Struct] = struct.Struct("<H")

    search_id: int


@dataclass(frozen=True, slots=True)
class SearchResult(Response):
    """How search ``search_id`` ended, and where (see the module docstring)."""

    message_type: ClassVar[MessageType] = MessageType.SEARCH_RESULT
    _layout: ClassVar[struct.Struct] = struct.Struct("<HB6ff")

    search_id: int
    outcome: SearchOutcome
    pose: Pose  # latched at contact (CONTACT), else where the tool stopped
    travelled_mm: float  # from the start along the direction

    @classmethod
    def _unpack(cls, payload: bytes) -> SearchResult:
        search_id, outcome, *values = cls._layout.unpack(payload)
        return cls(search_id, SearchOutcome(outcome), Pose(*values[0:6]), values[6])


@dataclass(frozen=True, slots=True)
class Ack(Response):
    message_type: ClassVar[MessageType] = MessageType.ACK
    _layout: ClassVar[struct.Struct] = struct.Struct("<B")

    request_type: MessageType | int  # the request answered (an int if this side lacks it)

    @classmethod
    def _unpack(cls, payload: bytes) -> Ack:
        (request_type,) = cls._layout.unpack(payload)
        return cls(_known(MessageType, request_type))


@dataclass(frozen=True, slots=True)
class Nak(Response):
    message_type: ClassVar[MessageType] = MessageType.NAK
    _layout: ClassVar[struct.Struct] = struct.Struct("<BB")

    request_type: MessageType | int  # the request refused (an int if this side lacks it)
    code: ResultCode | int  # why (an int if this side does not know the code)

    @classmethod
    def _unpack(cls, payload: bytes) -> Nak:
        request_type, code = cls._layout.unpack(payload)
        return cls(_known(MessageType, request_type), _known(ResultCode, code))


@dataclass(frozen=True, slots=True)
class RobotStatus(Response):
    """What the robot reports about itself. Pose is the actual tool point, corrections applied."""

    message_type: ClassVar[MessageType] = MessageType.STATUS
    _layout: ClassVar[struct.Struct] = struct.Struct("<B6fHfffHffHH")

    state: RobotState
    pose: Pose
    path_id: int  # the path being run (or the last one run); 0 for a single move
    path_position_mm: float  # distance travelled along that path
    path_length_mm: float  # length of that path's queued segments, from its start
    tool_speed_mm_per_s: float  # speed along the path
    queue_depth: int  # segments not yet completed, the running one included
    lateral_correction_mm: float  # offset applied now (clamped, rate-limited)
    vertical_correction_mm: float
    last_correction_seq: int  # seq of the last CORRECTION applied
    fault_code: int  # FaultCode; kept as int so a newer robot's codes still decode

    @property
    def fault_text(self) -> str:
        return fault_text(self.fault_code)

    @classmethod
    def _unpack(cls, payload: bytes) -> RobotStatus:
        values = cls._layout.unpack(payload)
        return cls(RobotState(values[0]), Pose(*values[1:7]), *values[7:])


@dataclass(frozen=True, slots=True)
class BadMessage:
    """Not a wire message: what the decoder yields for an intact frame it cannot decode."""

    type_code: int
    reason: str


MESSAGE_TYPES: dict[MessageType, type[Message]] = {
    cls.message_type: cls
    for cls in (
        MoveLinear,
        MoveCircular,
        MoveJoint,
        Hold,
        Resume,
        Stop,
        StatusRequest,
        Correction,
        Weave,
        Search,
        SearchResultRequest,
        Ack,
        Nak,
        RobotStatus,
        SearchResult,
    )
}


def _known(kind: type[_Code], value: int) -> _Code | int:
    """``value`` as a member of ``kind``, or the bare int when this side does not know it.

    Answers echo codes the other side chose; a newer peer's code must not make a frame
    undecodable.
    """
    try:
        return kind(value)
    except ValueError:
        return value


def _flatten(message: Message) -> list[object]:
    values: list[object] = []
    for item in fields(message):  # type: ignore[arg-type]  # every Message is a dataclass
        value = getattr(message, item.name)
        if isinstance(value, Pose):
            values.extend(value.values())
        else:
            values.append(value)
    return values


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: its seq and what it carried."""

    seq: int
    message: Message | BadMessage


# -- encoding and decoding --------------------------------------------------------------------


def encode_frame(seq: int, message: Message) -> bytes:
    """The bytes of one frame carrying ``message`` with ``seq`` (taken modulo 2**16)."""
    try:
        payload = message._pack()
    except (struct.error, OverflowError, TypeError) as error:
        raise EncodeError(f"{type(message).__name__} does not fit the wire: {error}") from error
    body = _HEADER.pack(PROTOCOL_VERSION, seq % SEQ_MODULO, message.message_type, len(payload))
    body += payload
    return SYNC + body + _CRC.pack(crc16(body))


def _decode_payload(seq: int, type_code: int, payload: bytes) -> Message:
    try:
        message_class = MESSAGE_TYPES[MessageType(type_code)]
    except ValueError:
        raise BadPayload(seq, type_code, "unknown message type") from None
    if len(payload) != message_class._layout.size:
        raise BadPayload(
            seq,
            type_code,
            f"{message_class.__name__} payload is {len(payload)} bytes, "
            f"expected {message_class._layout.size}",
        )
    try:
        return message_class._unpack(payload)
    except ValueError as error:  # an enum field holds a value this side does not know
        raise BadPayload(seq, type_code, str(error)) from None


def decode_frame(data: bytes) -> Frame:
    """Decode exactly one complete frame. Raises a ``FrameError`` subclass, nothing else."""
    if len(data) < FRAME_OVERHEAD_BYTES:
        raise TruncatedFrame(f"{len(data)} bytes is shorter than any frame")
    if data[: len(SYNC)] != SYNC:
        raise BadSync(f"frame starts with {data[:2].hex()}, not {SYNC.hex()}")
    version, seq, type_code, length = _HEADER.unpack_from(data, len(SYNC))
    if version != PROTOCOL_VERSION:
        raise BadVersion(f"version {version}, expected {PROTOCOL_VERSION}")
    if length > MAX_PAYLOAD_BYTES:
        raise OversizeLength(f"payload length {length} exceeds {MAX_PAYLOAD_BYTES}")
    end = HEADER_BYTES + length + _CRC.size
    if len(data) < end:
        raise TruncatedFrame(f"{len(data)} bytes, the header announces {end}")
    if len(data) > end:
        raise FrameError(f"{len(data) - end} bytes after the end of the frame")
    (crc_received,) = _CRC.unpack_from(data, end - _CRC.size)
    crc_computed = crc16(data[len(SYNC) : end - _CRC.size])
    if crc_received != crc_computed:
        raise CrcMismatch(f"CRC 0x{crc_received:04x}, computed 0x{crc_computed:04x}")
    return Frame(seq, _decode_payload(seq, type_code, bytes(data[HEADER_BYTES : end - _CRC.size])))


def _crc_ok(buffer: bytearray, start: int, end: int) -> bool:
    """Whether the frame in ``buffer[start:end]`` carries the CRC of its bytes after the sync."""
    (crc_received,) = _CRC.unpack_from(buffer, end - _CRC.size)
    return crc16(memoryview(buffer)[start + len(SYNC) : end - _CRC.size]) == crc_received


class FrameDecoder:
    """Turns a byte stream into frames; survives any input.

    ``feed`` never raises: bad bytes are counted and skipped, and decoding resynchronises on the
    next sync pair whose frame checks out. At most one partial frame (``MAX_FRAME_BYTES``) is
    kept between calls. The counters only grow (``reset`` drops buffered bytes, not counts).
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.frames = 0  # intact frames returned (BadMessage ones included)
        self.garbage_bytes = 0  # bytes skipped: noise, and the bytes of failed frames
        self.garbage_runs = 0  # stretches of noise not explained by a failed frame
        self.crc_errors = 0  # candidate frames whose CRC failed (flipped, truncated, spliced)
        self.truncated_frames = 0  # candidate frames cut short by an intact frame inside them
        self.oversize_lengths = 0  # candidate frames announcing more than MAX_PAYLOAD_BYTES
        self.bad_versions = 0  # candidate frames of another protocol version
        self.bad_payloads = 0  # intact frames that did not decode (yielded as BadMessage)
        # Set by a failed frame or a garbage run, cleared by a good frame: the bytes skipped
        # after a failure are that failure's remains, not a new run of noise.
        self._in_error = False

    @property
    def errors(self) -> int:
        """Distinct problems seen: failed frames, undecodable frames and runs of noise."""
        return (
            self.crc_errors
            + self.truncated_frames
            + self.oversize_lengths
            + self.bad_versions
            + self.bad_payloads
            + self.garbage_runs
        )

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def counters(self) -> dict[str, int]:
        return {
            "frames": self.frames,
            "garbage_bytes": self.garbage_bytes,
            "garbage_runs": self.garbage_runs,
            "crc_errors": self.crc_errors,
            "truncated_frames": self.truncated_frames,
            "oversize_lengths": self.oversize_lengths,
            "bad_versions": self.bad_versions,
            "bad_payloads": self.bad_payloads,
        }

    def reset(self) -> None:
        """Forget buffered bytes (e.g. after a reconnect: they belong to the old link)."""
        if self._buffer:
            self._skip(len(self._buffer))
            self._buffer.clear()

    def _skip(self, count: int) -> None:
        if count <= 0:
            return
        self.garbage_bytes += count
        if not self._in_error:
            self.garbage_runs += 1
            self._in_error = True

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add received bytes; return every frame completed by them, in order."""
        buffer = self._buffer
        buffer += data
        found: list[Frame] = []
        pos = 0
        while True:
            start = buffer.find(SYNC, pos)
            if start < 0:
                # No sync pair: all noise, except a last byte that may be the first half of one
                # (and is not the last byte of the frame just decoded).
                keep = 1 if len(buffer) > pos and buffer[-1:] == SYNC[:1] else 0
                self._skip(len(buffer) - keep - pos)
                pos = len(buffer) - keep
                break
            self._skip(start - pos)
            pos = start
            if len(buffer) - pos < HEADER_BYTES:
                break  # wait for the rest of the header
            version, seq, type_code, length = _HEADER.unpack_from(buffer, pos + len(SYNC))
            # Judge the header before waiting for the body: an absurd length must not make us
            # sit on a valid frame that follows it.
            if length > MAX_PAYLOAD_BYTES:
                self.oversize_lengths += 1
                pos = self._fail(pos)
                continue
            if version != PROTOCOL_VERSION:
                self.bad_versions += 1
                pos = self._fail(pos)
                continue
            end = pos + HEADER_BYTES + length + _CRC.size
            if len(buffer) < end:
                # Incomplete. Wait for the rest, unless an intact frame already starts inside
                # it: then this one was cut short (frames never overlap), and waiting would hide
                # the intact frame until enough unrelated bytes arrive.
                later = self._intact_frame_after(buffer, pos)
                if later is None:
                    break
                self.truncated_frames += 1
                self._in_error = True
                self.garbage_bytes += later - pos
                pos = later
                continue
            if not _crc_ok(buffer, pos, end):
                self.crc_errors += 1
                pos = self._fail(pos)
                continue
            payload = bytes(buffer[pos + HEADER_BYTES : end - _CRC.size])
            message: Message | BadMessage
            try:
                message = _decode_payload(seq, type_code, payload)
            except BadPayload as error:
                self.bad_payloads += 1
                message = BadMessage(type_code, error.reason)
            self.frames += 1
            self._in_error = False
            found.append(Frame(seq, message))
            pos = end
        del buffer[:pos]
        return found

    @staticmethod
    def _intact_frame_after(buffer: bytearray, pos: int) -> int | None:
        """Where the first complete, CRC-checked frame after ``pos`` starts, if any."""
        candidate = buffer.find(SYNC, pos + 1)
        while candidate >= 0 and len(buffer) - candidate >= FRAME_OVERHEAD_BYTES:
            version, _seq, _type, length = _HEADER.unpack_from(buffer, candidate + len(SYNC))
            end = candidate + HEADER_BYTES + length + _CRC.size
            if (
                version == PROTOCOL_VERSION
                and length <= MAX_PAYLOAD_BYTES
                and end <= len(buffer)
                and _crc_ok(buffer, candidate, end)
            ):
                return candidate
            candidate = buffer.find(SYNC, candidate + 1)
        return None

    def _fail(self, pos: int) -> int:
        """Give up the candidate frame at ``pos``: skip its first sync byte and search again."""
        self._in_error = True
        self.garbage_bytes += 1
        return pos + 1
