"""KUKA RSI (Robot Sensor Interface, RSI 3/4 over Ethernet): the XML telegrams, pure.

The robot is the UDP client. Every interpolation cycle (4 ms, or 12 ms) its ETHERNET object
sends one telegram with what the RSI configuration's ``<SEND>`` list names, and expects within
the same cycle one answer that echoes the telegram's ``IPOC`` and carries what its
``<RECEIVE>`` list names. The layout follows KUKA's published RSI examples (and the ROS-Industrial
``kuka_rsi_hw_interface`` / ``kuka_rsi_simulator`` that talk to them)::

    robot -> sensor
    <Rob Type="KUKA"><RIst X="512.0000" Y="0.0000" Z="300.0000" A="180.0000" B="0.0000"
     C="180.0000"/><RSol .../><AIPos A1=".." .. A6=".."/><ASPos .../><Delay D="0"/>
     <IPOC>4021776</IPOC></Rob>

    sensor -> robot
    <Sen Type="ImFree"><EStr>cellctl</EStr><RKorr X="0.1200" Y="-0.0400" Z="0.0000" A="0.0000"
     B="0.0000" C="0.0000"/><IPOC>4021776</IPOC></Sen>

- ``RIst`` / ``RSol``: the actual / commanded Cartesian pose of the tool point in the base
  frame (mm; A, B, C in degrees: rotations about Z, Y and X), ``DEF_RIst`` / ``DEF_RSol``.
- ``AIPos`` / ``ASPos``: actual / commanded axis angles A1..A6 (degrees).
- ``Delay D``: the robot's own count of late answers (``DEF_Delay``).
- ``IPOC``: the robot's cycle counter, a time stamp in ms; the answer must echo it.
- ``RKorr``: the Cartesian correction for the POSCORR object (mm, degrees), in the frame and
  mode (here always absolute: the offset from the programmed path) the RSI context names.
- ``EStr``: a text the robot shows in its message window (optional).

Elements this module does not know (what else a configuration lists) are kept, not refused.

Contract: ``decode_*`` take any bytes and return a telegram or raise ``RsiCodecError`` (never
anything else); ``encode_*`` write the published layout with ``precision`` decimals (the
ETHERNET object's ``Precision`` parameter) and refuse, with ``RsiCodecError``, what cannot be
written (non-finite numbers, an IPOC out of range, markup in a text).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

MAX_TELEGRAM_BYTES = 8192  # RSI caps a telegram at 64 channels; a few kB is plenty
MAX_IPOC = 2**63 - 1
CARTESIAN_KEYS = ("X", "Y", "Z", "A", "B", "C")
AXIS_KEYS = ("A1", "A2", "A3", "A4", "A5", "A6")
DEFAULT_SENSOR_TYPE = "ImFree"  # <SENTYPE> in the ETHERNET object's configuration file

_ROOT = re.compile(rb"\A\s*<(Rob|Sen)\s+Type=\"([A-Za-z0-9_]{1,32})\"\s*>(.*)</\1>\s*\Z", re.S)
# One child element: either <Tag a="v" .../> or <Tag>text</Tag>, with optional white space.
_EMPTY = re.compile(
    rb"\s*<([A-Za-z_][A-Za-z0-9_.]{0,31})((?:\s+[A-Za-z0-9_.]{1,32}=\"[^\"<>&]*\")*)\s*/>"
)
_TEXT = re.compile(rb"\s*<([A-Za-z_][A-Za-z0-9_.]{0,31})>([^<>&]*)</\1>")
_ATTRIBUTE = re.compile(rb"([A-Za-z0-9_.]{1,32})=\"([^\"<>&]*)\"")
_TEXT_ALLOWED = re.compile(r"\A[^<>&\"]*\Z")


class RsiCodecError(ValueError):
    """Bytes that are not a valid RSI telegram, or a telegram that cannot be written."""


@dataclass(frozen=True, slots=True)
class CartesianPose:
    """X, Y, Z in mm and A, B, C in degrees (rotations about Z, Y, X), as RSI carries them."""

    x_mm: float = 0.0
    y_mm: float = 0.0
    z_mm: float = 0.0
    a_deg: float = 0.0
    b_deg: float = 0.0
    c_deg: float = 0.0

    def values(self) -> tuple[float, float, float, float, float, float]:
        return (self.x_mm, self.y_mm, self.z_mm, self.a_deg, self.b_deg, self.c_deg)

    @property
    def position_mm(self) -> tuple[float, float, float]:
        return (self.x_mm, self.y_mm, self.z_mm)

    @property
    def orientation_deg(self) -> tuple[float, float, float]:
        return (self.a_deg, self.b_deg, self.c_deg)


ZERO_POSE = CartesianPose()


@dataclass(frozen=True, slots=True)
class RobotTelegram:
    """What the robot sent in one cycle (``<Rob>``)."""

    ipoc: int
    actual: CartesianPose  # RIst
    commanded: CartesianPose | None = None  # RSol
    axes_actual_deg: tuple[float, ...] | None = None  # AIPos
    axes_commanded_deg: tuple[float, ...] | None = None  # ASPos
    late_count: int | None = None  # Delay D
    robot_type: str = "KUKA"
    # Elements the configuration adds that this module does not interpret: (tag, text or
    # attributes as "k=v" pairs), in order.
    extra: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True, slots=True)
class SensorTelegram:
    """The answer to one robot telegram (``<Sen>``)."""

    ipoc: int
    correction: CartesianPose = ZERO_POSE  # RKorr
    sensor_type: str = DEFAULT_SENSOR_TYPE
    message: str | None = None  # EStr


# -- decoding ---------------------------------------------------------------------------------


def _children(body: bytes) -> list[tuple[str, dict[str, str] | None, str | None]]:
    """Split a root's body into (tag, attributes or None, text or None), refusing anything else."""
    children: list[tuple[str, dict[str, str] | None, str | None]] = []
    position = 0
    end = len(body)
    while position < end:
        if body[position:].strip() == b"":
            break
        empty = _EMPTY.match(body, position)
        if empty is not None:
            attributes: dict[str, str] = {}
            for key, value in _ATTRIBUTE.findall(empty.group(2)):
                name = key.decode("ascii")
                if name in attributes:
                    raise RsiCodecError(f"<{empty.group(1).decode('ascii')}> repeats {name}")
                attributes[name] = value.decode("ascii")
            children.append((empty.group(1).decode("ascii"), attributes, None))
            position = empty.end()
            continue
        text = _TEXT.match(body, position)
        if text is not None:
            children.append((text.group(1).decode("ascii"), None, text.group(2).decode("ascii")))
            position = text.end()
            continue
        snippet = body[position : position + 24].decode("ascii", "replace")
        raise RsiCodecError(f"not an RSI element at byte {position}: {snippet!r}")
    return children


def _number(tag: str, key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RsiCodecError(f"<{tag} {key}={text!r}> is not a number") from None
    if not math.isfinite(value):
        raise RsiCodecError(f"<{tag} {key}={text!r}> is not finite")
    return value


def _integer(tag: str, text: str, maximum: int) -> int:
    stripped = text.strip()
    if not stripped.isdigit() or not stripped.isascii():
        raise RsiCodecError(f"<{tag}> {text!r} is not a whole number")
    value = int(stripped)
    if value > maximum:
        raise RsiCodecError(f"<{tag}> {value} is beyond {maximum}")
    return value


def _numbers(tag: str, attributes: dict[str, str] | None, keys: tuple[str, ...]) -> list[float]:
    if attributes is None:
        raise RsiCodecError(f"<{tag}> carries its values as attributes, not as text")
    missing = [key for key in keys if key not in attributes]
    if missing:
        raise RsiCodecError(f"<{tag}> lacks {', '.join(missing)}")
    return [_number(tag, key, attributes[key]) for key in keys]


def _root(
    data: bytes, expected: str
) -> tuple[str, list[tuple[str, dict[str, str] | None, str | None]]]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise RsiCodecError(f"a telegram is bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > MAX_TELEGRAM_BYTES:
        raise RsiCodecError(f"{len(data)} bytes is more than a telegram ({MAX_TELEGRAM_BYTES})")
    if not data.isascii():
        raise RsiCodecError("a telegram is ASCII; this has other bytes")
    root = _ROOT.match(data)
    if root is None:
        raise RsiCodecError(f"not an RSI <{expected} Type=...> telegram")
    if root.group(1).decode("ascii") != expected:
        raise RsiCodecError(f"a <{root.group(1).decode('ascii')}> telegram, not <{expected}>")
    return root.group(2).decode("ascii"), _children(root.group(3))


def decode_robot_telegram(data: bytes) -> RobotTelegram:
    """The robot's telegram in ``data``; ``RsiCodecError`` for anything else."""
    robot_type, children = _root(data, "Rob")
    seen: set[str] = set()
    values: dict[str, object] = {}
    extra: list[tuple[str, str]] = []
    for tag, attributes, text in children:
        if tag in seen and tag in ("RIst", "RSol", "AIPos", "ASPos", "Delay", "IPOC"):
            raise RsiCodecError(f"<{tag}> appears twice")
        seen.add(tag)
        if tag in ("RIst", "RSol"):
            values[tag] = CartesianPose(*_numbers(tag, attributes, CARTESIAN_KEYS))
        elif tag in ("AIPos", "ASPos"):
            values[tag] = tuple(_numbers(tag, attributes, AXIS_KEYS))
        elif tag == "Delay":
            if attributes is None or "D" not in attributes:
                raise RsiCodecError("<Delay> lacks D")
            values[tag] = _integer("Delay D", attributes["D"], MAX_IPOC)
        elif tag == "IPOC":
            if text is None:
                raise RsiCodecError("<IPOC> carries its value as text")
            values[tag] = _integer("IPOC", text, MAX_IPOC)
        elif text is not None:
            extra.append((tag, text))
        else:
            assert attributes is not None
            extra.append((tag, " ".join(f"{k}={v}" for k, v in attributes.items())))
    if "IPOC" not in values:
        raise RsiCodecError("the telegram has no <IPOC>")
    if "RIst" not in values:
        raise RsiCodecError("the telegram has no <RIst> (the RSI configuration must send DEF_RIst)")
    return RobotTelegram(
        ipoc=values["IPOC"],  # type: ignore[arg-type]
        actual=values["RIst"],  # type: ignore[arg-type]
        commanded=values.get("RSol"),  # type: ignore[arg-type]
        axes_actual_deg=values.get("AIPos"),  # type: ignore[arg-type]
        axes_commanded_deg=values.get("ASPos"),  # type: ignore[arg-type]
        late_count=values.get("Delay"),  # type: ignore[arg-type]
        robot_type=robot_type,
        extra=tuple(extra),
    )


def decode_sensor_telegram(data: bytes) -> SensorTelegram:
    """A sensor's answer in ``data`` (the robot's side reads these); ``RsiCodecError`` else."""
    sensor_type, children = _root(data, "Sen")
    ipoc: int | None = None
    correction: CartesianPose | None = None
    message: str | None = None
    for tag, attributes, text in children:
        if tag == "IPOC":
            if ipoc is not None or text is None:
                raise RsiCodecError("<IPOC> must appear once, with its value as text")
            ipoc = _integer("IPOC", text, MAX_IPOC)
        elif tag == "RKorr":
            if correction is not None:
                raise RsiCodecError("<RKorr> appears twice")
            correction = CartesianPose(*_numbers(tag, attributes, CARTESIAN_KEYS))
        elif tag == "EStr":
            message = text if text is not None else ""
    if ipoc is None:
        raise RsiCodecError("the answer has no <IPOC>")
    if correction is None:
        raise RsiCodecError("the answer has no <RKorr>")
    return SensorTelegram(ipoc, correction, sensor_type, message)


# -- encoding ---------------------------------------------------------------------------------


def _format(tag: str, keys: tuple[str, ...], values: tuple[float, ...], precision: int) -> str:
    parts = []
    for key, value in zip(keys, values, strict=True):
        if not math.isfinite(value):
            raise RsiCodecError(f"<{tag} {key}> {value} is not finite")
        text = f"{value:.{precision}f}"
        if text.startswith("-") and float(text) == 0:
            text = text[1:]  # no "-0.0000" on the wire
        parts.append(f'{key}="{text}"')
    return f"<{tag} {' '.join(parts)}/>"


def _check_ipoc(ipoc: int) -> None:
    if not isinstance(ipoc, int) or not 0 <= ipoc <= MAX_IPOC:
        raise RsiCodecError(f"IPOC {ipoc!r} is not in 0..{MAX_IPOC}")


def _check_type(name: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_]{1,32}", name):
        raise RsiCodecError(f"type {name!r} is not 1..32 letters, digits or _")


def encode_robot_telegram(telegram: RobotTelegram, precision: int = 4) -> bytes:
    """The robot's telegram as the ETHERNET object sends it (the simulator's side)."""
    _check_ipoc(telegram.ipoc)
    _check_type(telegram.robot_type)
    parts = [f'<Rob Type="{telegram.robot_type}">']
    parts.append(_format("RIst", CARTESIAN_KEYS, telegram.actual.values(), precision))
    if telegram.commanded is not None:
        parts.append(_format("RSol", CARTESIAN_KEYS, telegram.commanded.values(), precision))
    if telegram.axes_actual_deg is not None:
        parts.append(_format("AIPos", AXIS_KEYS, telegram.axes_actual_deg, precision))
    if telegram.axes_commanded_deg is not None:
        parts.append(_format("ASPos", AXIS_KEYS, telegram.axes_commanded_deg, precision))
    if telegram.late_count is not None:
        _check_ipoc(telegram.late_count)
        parts.append(f'<Delay D="{telegram.late_count}"/>')
    parts.append(f"<IPOC>{telegram.ipoc}</IPOC></Rob>")
    return "".join(parts).encode("ascii")


def encode_sensor_telegram(telegram: SensorTelegram, precision: int = 4) -> bytes:
    """The answer to a robot telegram, echoing its IPOC, with the correction ``RKorr``."""
    _check_ipoc(telegram.ipoc)
    _check_type(telegram.sensor_type)
    parts = [f'<Sen Type="{telegram.sensor_type}">']
    if telegram.message is not None:
        if not telegram.message.isascii() or not _TEXT_ALLOWED.match(telegram.message):
            raise RsiCodecError(f'EStr {telegram.message!r} must be ASCII without < > & "')
        parts.append(f"<EStr>{telegram.message}</EStr>")
    parts.append(_format("RKorr", CARTESIAN_KEYS, telegram.correction.values(), precision))
    parts.append(f"<IPOC>{telegram.ipoc}</IPOC></Sen>")
    return "".join(parts).encode("ascii")


# -- frames -----------------------------------------------------------------------------------

Vector = tuple[float, float, float]


def _rotation(orientation_deg: Vector) -> tuple[Vector, Vector, Vector]:
    """KUKA's A, B, C (degrees) as a rotation matrix, rows: R = Rz(A) · Ry(B) · Rx(C).

    R turns a vector from the tool frame into the base frame.
    """
    a, b, c = (math.radians(angle) for angle in orientation_deg)
    ca, sa, cb, sb, cc, sc = (
        math.cos(a),
        math.sin(a),
        math.cos(b),
        math.sin(b),
        math.cos(c),
        math.sin(c),
    )
    return (
        (ca * cb, ca * sb * sc - sa * cc, ca * sb * cc + sa * sc),
        (sa * cb, sa * sb * sc + ca * cc, sa * sb * cc - ca * sc),
        (-sb, cb * sc, cb * cc),
    )


def tool_to_base(vector: Vector, orientation_deg: Vector) -> Vector:
    """A vector in the tool frame (the tool's orientation A, B, C) turned into the base frame."""
    r = _rotation(orientation_deg)
    return (
        r[0][0] * vector[0] + r[0][1] * vector[1] + r[0][2] * vector[2],
        r[1][0] * vector[0] + r[1][1] * vector[1] + r[1][2] * vector[2],
        r[2][0] * vector[0] + r[2][1] * vector[1] + r[2][2] * vector[2],
    )


def base_to_tool(vector: Vector, orientation_deg: Vector) -> Vector:
    """A vector in the base frame turned into the tool frame (the transpose of ``tool_to_base``)."""
    r = _rotation(orientation_deg)
    return (
        r[0][0] * vector[0] + r[1][0] * vector[1] + r[2][0] * vector[2],
        r[0][1] * vector[0] + r[1][1] * vector[1] + r[2][1] * vector[2],
        r[0][2] * vector[0] + r[1][2] * vector[1] + r[2][2] * vector[2],
    )
