"""The robot protocol codec: every message survives the wire, and no byte stream breaks it."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.codecs.robot_protocol import (
    FRAME_OVERHEAD_BYTES,
    MAX_PAYLOAD_BYTES,
    MESSAGE_TYPES,
    SYNC,
    Ack,
    BadMessage,
    BadPayload,
    BadSync,
    BadVersion,
    Correction,
    CrcMismatch,
    EncodeError,
    FaultCode,
    Frame,
    FrameDecoder,
    FrameError,
    Hold,
    Message,
    MessageType,
    MoveCircular,
    MoveJoint,
    MoveLinear,
    Nak,
    OversizeLength,
    Pose,
    ResultCode,
    Resume,
    RobotState,
    RobotStatus,
    Search,
    SearchOutcome,
    SearchResult,
    SearchResultRequest,
    StatusRequest,
    Stop,
    TruncatedFrame,
    Weave,
    crc16,
    decode_frame,
    encode_frame,
    fault_text,
    result_text,
)
from drivers.codecs.weave import WeavePattern, WeaveShape

# Values travel as float32: draw values that float32 holds exactly, so equality is exact.
f32 = st.floats(width=32, allow_nan=False)
u16 = st.integers(0, 0xFFFF)
poses = st.builds(Pose, f32, f32, f32, f32, f32, f32)

messages = st.one_of(
    st.builds(MoveLinear, poses, f32, u16),
    st.builds(MoveCircular, st.tuples(f32, f32, f32), poses, f32, u16),
    st.builds(MoveJoint, poses, f32),
    st.builds(Hold),
    st.builds(Resume),
    st.builds(Stop),
    st.builds(StatusRequest),
    st.builds(Correction, f32, f32),
    st.builds(
        Weave,
        u16,
        st.builds(WeaveShape, st.sampled_from(WeavePattern), f32, f32, f32, f32, f32, f32),
    ),
    st.builds(Search, poses, st.tuples(f32, f32, f32), f32, f32, u16),
    st.builds(SearchResultRequest, u16),
    st.builds(SearchResult, u16, st.sampled_from(SearchOutcome), poses, f32),
    st.builds(Ack, st.sampled_from(MessageType)),
    st.builds(Nak, st.sampled_from(MessageType), st.sampled_from(ResultCode)),
    st.builds(
        RobotStatus,
        st.sampled_from(RobotState),
        poses,
        u16,
        f32,
        f32,
        f32,
        u16,
        f32,
        f32,
        u16,
        st.sampled_from(FaultCode),
    ),
)


def _frames(draw_messages: list[Message], first_seq: int = 0) -> bytes:
    return b"".join(encode_frame(first_seq + i, m) for i, m in enumerate(draw_messages))


# -- round trips ------------------------------------------------------------------------------


@given(st.integers(0, 0xFFFF), messages)
def test_every_message_round_trips(seq: int, message: Message):
    assert decode_frame(encode_frame(seq, message)) == Frame(seq, message)


@given(st.lists(messages, max_size=8), st.data())
def test_a_stream_split_anywhere_decodes_to_the_same_frames(stream: list[Message], data):
    wire = _frames(stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    decoder = FrameDecoder()
    found: list[Frame] = []
    for start, end in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        found += decoder.feed(wire[start:end])
    assert [f.message for f in found] == stream
    assert [f.seq for f in found] == list(range(len(stream)))
    assert decoder.errors == 0
    assert decoder.garbage_bytes == 0
    assert decoder.buffered_bytes == 0


def test_seq_wraps_at_16_bits():
    assert decode_frame(encode_frame(0x1_0005, Hold())).seq == 5


def test_nan_travels_as_nan():
    """The codec carries NaN; refusing it is the robot's and the driver's job, not the codec's."""
    frame = decode_frame(encode_frame(1, Correction(math.nan, 1.0)))
    assert isinstance(frame.message, Correction)
    assert math.isnan(frame.message.lateral_mm)


# -- garbage ----------------------------------------------------------------------------------


@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise_from_the_stream_decoder(noise: bytes):
    decoder = FrameDecoder()
    frames = decoder.feed(noise)
    assert all(isinstance(f, Frame) for f in frames)
    assert decoder.buffered_bytes <= len(noise)


@given(st.binary(max_size=100))
def test_decode_frame_raises_only_frame_errors(data: bytes):
    try:
        decode_frame(data)
    except FrameError:
        pass


@given(st.binary(max_size=200), messages, st.integers(0, 0xFFFF))
def test_a_valid_frame_after_garbage_is_found(noise: bytes, message: Message, seq: int):
    decoder = FrameDecoder()
    found = decoder.feed(noise + encode_frame(seq, message))
    assert found[-1] == Frame(seq, message)


@given(st.binary(min_size=1, max_size=60), messages, messages)
def test_garbage_between_frames_is_counted_and_skipped(noise: bytes, first, second):
    decoder = FrameDecoder()
    found = decoder.feed(encode_frame(1, first) + noise + encode_frame(2, second))
    assert found[0] == Frame(1, first)
    assert found[-1] == Frame(2, second)
    if len(found) == 2:  # the noise held no intact frame of its own (it almost never does)
        assert decoder.garbage_bytes == len(noise)
        assert decoder.errors >= 1


def test_garbage_is_counted_once_per_run():
    decoder = FrameDecoder()
    hold = encode_frame(1, Hold())
    decoder.feed(b"\x00\x01\x02" + hold + b"\xff\xfe" + hold)
    assert decoder.garbage_runs == 2
    assert decoder.garbage_bytes == 5
    assert decoder.frames == 2


def test_a_partial_sync_at_the_end_of_a_chunk_is_kept():
    decoder = FrameDecoder()
    frame = encode_frame(3, StatusRequest())
    assert decoder.feed(b"\x00" + frame[:1]) == []
    assert decoder.feed(frame[1:]) == [Frame(3, StatusRequest())]


def test_a_frame_ending_in_the_first_sync_byte_leaves_nothing_behind():
    """Regression: the last CRC byte of a decoded frame was kept as a possible half sync."""
    seq = next(n for n in range(1000) if encode_frame(n, Hold())[-1] == SYNC[0])
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(seq, Hold())) == [Frame(seq, Hold())]
    assert decoder.buffered_bytes == 0
    assert decoder.feed(encode_frame(1, Stop())) == [Frame(1, Stop())]
    assert decoder.garbage_bytes == 0


def test_an_absurd_length_is_skipped_without_waiting_for_it():
    """A header announcing 65535 bytes must not make the decoder sit on the next frame."""
    decoder = FrameDecoder()
    bogus = SYNC + struct.pack("<BHBH", 1, 9, 0x82, 0xFFFF)
    assert decoder.feed(bogus + encode_frame(4, Stop())) == [Frame(4, Stop())]
    assert decoder.oversize_lengths == 1


def test_a_frame_cut_short_does_not_hide_the_next_one():
    decoder = FrameDecoder()
    status = RobotStatus(
        RobotState.IDLE, Pose(1, 2, 3), 0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 0, FaultCode.NONE
    )
    cut = encode_frame(1, status)[:20]
    assert decoder.feed(cut + encode_frame(2, Hold())) == [Frame(2, Hold())]
    assert decoder.truncated_frames == 1


def test_another_version_is_skipped():
    frame = bytearray(encode_frame(1, Hold()))
    frame[2] = 2
    frame[-2:] = struct.pack("<H", crc16(frame[2:-2]))
    with pytest.raises(BadVersion):
        decode_frame(bytes(frame))
    decoder = FrameDecoder()
    assert decoder.feed(bytes(frame)) == []
    assert decoder.bad_versions == 1


# -- corruption -------------------------------------------------------------------------------


@given(messages, st.data())
def test_any_single_bit_flip_is_detected(message: Message, data):
    frame = bytearray(encode_frame(7, message))
    bit = data.draw(st.integers(0, len(frame) * 8 - 1))
    frame[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(FrameError):
        decode_frame(bytes(frame))


@given(messages, messages, st.data())
def test_a_corrupted_frame_in_a_stream_is_dropped_and_the_next_one_kept(first, second, data):
    frame = bytearray(encode_frame(7, first))
    index = data.draw(st.integers(0, len(frame) - 1))
    frame[index] ^= data.draw(st.integers(1, 255))
    decoder = FrameDecoder()
    found = decoder.feed(bytes(frame) + encode_frame(8, second))
    assert found[-1] == Frame(8, second)
    assert Frame(7, first) not in found
    assert decoder.errors >= 1


def test_crc_is_ccitt_false():
    assert crc16(b"123456789") == 0x29B1  # the catalogue's check value for CRC-16/CCITT-FALSE


def test_crc_mismatch_is_reported():
    frame = bytearray(encode_frame(1, Correction(1.0, 2.0)))
    frame[-1] ^= 0x01
    with pytest.raises(CrcMismatch):
        decode_frame(bytes(frame))
    decoder = FrameDecoder()
    assert decoder.feed(bytes(frame)) == []
    assert decoder.crc_errors == 1


# -- single messages and the frame layout -----------------------------------------------------


def test_frame_layout_is_pinned():
    # sync, version 1, seq 0x1234, type HOLD, length 0, CRC-16 of the five header bytes
    assert encode_frame(0x1234, Hold()) == bytes.fromhex("a55a 01 3412 03 0000 c761")
    assert encode_frame(1, Correction(1.5, -0.25)) == bytes.fromhex(
        "a55a 01 0100 07 0800 0000c03f 000080be 347e"
    )


def test_every_message_fits_the_payload_bound():
    for message_class in MESSAGE_TYPES.values():
        assert message_class._layout.size <= MAX_PAYLOAD_BYTES
    assert len(encode_frame(0, Correction(0, 0))) == FRAME_OVERHEAD_BYTES + 8


def test_move_linear_carries_pose_speed_and_path():
    move = MoveLinear(Pose(100.5, -20.25, 300.0, 180.0, 0.0, 45.0), 12.5, path_id=42)
    decoded = decode_frame(encode_frame(9, move)).message
    assert decoded == move
    assert isinstance(decoded, MoveLinear)
    assert decoded.pose.position_mm == (100.5, -20.25, 300.0)


def test_move_circular_carries_via_end_speed_and_path():
    move = MoveCircular((150.0, 25.5, 8.0), Pose(200.0, 0.0, 8.0, 0.0, 45.0, 0.0), 8.0, 3)
    frame = encode_frame(4, move)
    decoded = decode_frame(frame).message
    assert decoded == move
    assert isinstance(decoded, MoveCircular)
    assert decoded.via_mm == (150.0, 25.5, 8.0)
    assert len(frame) == FRAME_OVERHEAD_BYTES + 42
    assert not MoveCircular.idempotent


def test_move_joint_carries_speed_percent():
    move = MoveJoint(Pose(0, 0, 500), 25.0)
    assert decode_frame(encode_frame(1, move)).message == move


def test_status_carries_every_field():
    status = RobotStatus(
        state=RobotState.HOLDING,
        pose=Pose(1.0, 2.0, 3.0, 4.0, 5.0, 6.0),
        path_id=12,
        path_position_mm=150.5,
        path_length_mm=400.0,
        tool_speed_mm_per_s=8.0,
        queue_depth=3,
        lateral_correction_mm=1.25,
        vertical_correction_mm=-0.5,
        last_correction_seq=65535,
        fault_code=FaultCode.CORRECTION_STREAM_LOST,
    )
    decoded = decode_frame(encode_frame(1, status)).message
    assert decoded == status
    assert isinstance(decoded, RobotStatus)
    assert decoded.fault_text == "correction stream lost"


def test_ack_and_nak_name_the_request():
    assert decode_frame(encode_frame(1, Ack(MessageType.HOLD))).message == Ack(MessageType.HOLD)
    nak = Nak(MessageType.MOVE_LINEAR, ResultCode.DRIVES_OFF)
    assert decode_frame(encode_frame(1, nak)).message == nak
    assert result_text(ResultCode.DRIVES_OFF) == "drives off"


def test_codes_a_newer_peer_might_send_still_decode():
    nak = decode_frame(encode_frame(1, Nak(0x55, 200))).message
    assert nak == Nak(0x55, 200)
    assert result_text(200) == "unknown result code 200"
    assert fault_text(99) == "unknown fault code 99"


def test_which_requests_may_be_retried():
    assert StatusRequest.idempotent
    assert Hold.idempotent
    assert Stop.idempotent
    assert Resume.idempotent  # a state ("may continue"), not a step; see the module docstring
    assert Weave.idempotent  # a state of the path ("path N weaves so")
    assert not MoveLinear.idempotent
    assert not MoveJoint.idempotent
    assert not Correction.expects_response
    assert all(cls.expects_response for cls in (Hold, Resume, Stop, StatusRequest, MoveLinear))


def test_messages_are_frozen():
    with pytest.raises(AttributeError):
        Correction(1.0, 2.0).lateral_mm = 3.0  # type: ignore[misc]


# -- decode errors ----------------------------------------------------------------------------


def _with_crc(header_and_payload: bytes) -> bytes:
    return SYNC + header_and_payload + struct.pack("<H", crc16(header_and_payload))


def test_an_unknown_type_in_an_intact_frame_is_a_bad_message():
    frame = _with_crc(struct.pack("<BHBH", 1, 77, 0x42, 0))
    with pytest.raises(BadPayload) as raised:
        decode_frame(frame)
    assert raised.value.seq == 77
    decoder = FrameDecoder()
    assert decoder.feed(frame) == [Frame(77, BadMessage(0x42, "unknown message type"))]
    assert decoder.bad_payloads == 1


def test_a_payload_of_the_wrong_length_is_a_bad_message():
    frame = _with_crc(struct.pack("<BHBH", 1, 5, MessageType.CORRECTION, 4) + b"\x00" * 4)
    with pytest.raises(BadPayload, match="Correction payload is 4 bytes, expected 8"):
        decode_frame(frame)


def test_an_unknown_robot_state_is_a_bad_message():
    status = RobotStatus(RobotState.IDLE, Pose(0, 0, 0), 0, 0, 0, 0, 0, 0, 0, 0, 0)
    frame = bytearray(encode_frame(1, status))
    frame[8] = 99  # the state byte, first of the payload
    frame[-2:] = struct.pack("<H", crc16(frame[2:-2]))
    decoded = FrameDecoder().feed(bytes(frame))
    assert len(decoded) == 1
    assert isinstance(decoded[0].message, BadMessage)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\xa5\x5a\x01", TruncatedFrame),
        (b"\x00\x00" + encode_frame(1, Hold())[2:], BadSync),
        (encode_frame(1, Hold())[:-1] + b"\x00\x00", FrameError),  # a byte too many
        (SYNC + struct.pack("<BHBH", 1, 1, 3, 500) + b"\x00\x00", OversizeLength),
        (encode_frame(1, Correction(0, 0))[:-3], TruncatedFrame),
    ],
)
def test_decode_frame_says_what_is_wrong(data: bytes, error: type[FrameError]):
    with pytest.raises(error):
        decode_frame(data)


def test_values_that_do_not_fit_the_wire_are_refused_by_the_encoder():
    with pytest.raises(EncodeError):
        encode_frame(1, MoveLinear(Pose(0, 0, 0), 10.0, path_id=70_000))
    with pytest.raises(EncodeError):
        encode_frame(1, Correction(1e39, 0.0))  # beyond float32


def test_search_carries_start_direction_speed_distance_and_id():
    search = Search(Pose(300.0, -40.0, 20.0, 0.0, -45.0, 0.0), (0.0, 0.0, -1.0), 10.0, 25.0, 7)
    decoded = decode_frame(encode_frame(3, search)).message
    assert decoded == search
    assert isinstance(decoded, Search)
    assert decoded.problem() == ""
    assert decoded.end_mm() == (300.0, -40.0, -5.0)


def test_a_search_the_robot_cannot_take_says_why():
    start = Pose(0.0, 0.0, 0.0)
    assert "unit vector" in Search(start, (0.0, 0.5, 0.0), 10.0, 5.0, 1).problem()
    assert "above zero" in Search(start, (0.0, 0.0, 1.0), 10.0, 0.0, 1).problem()
    assert "search_id 0" in Search(start, (0.0, 0.0, 1.0), 10.0, 5.0, 0).problem()
    assert "not finite" in Search(start, (0.0, 0.0, 1.0), math.nan, 5.0, 1).problem()


def test_search_result_carries_outcome_and_latched_pose():
    result = SearchResult(7, SearchOutcome.CONTACT, Pose(1.0, 2.0, 3.0), 12.5)
    assert decode_frame(encode_frame(3, result)).message == result
