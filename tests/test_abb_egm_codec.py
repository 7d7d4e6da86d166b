"""The ABB EGM codec (drivers.codecs.abb_egm): round trips, what a message must carry, and any
bytes in giving only the codec's own error out."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.codecs.abb_egm import (
    EgmCodecError,
    EgmEncodeError,
    EgmPathCorrectionMessage,
    EgmPose,
    EgmRobotMessage,
    MciState,
    MessageType,
    MotorState,
    RapidExecState,
    decode_path_correction,
    decode_robot,
    encode_path_correction,
    encode_robot,
    quaternion_from_zyx_deg,
    zyx_deg_from_quaternion,
)
from drivers.codecs.egm_proto import egm_pb2

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
uint32 = st.integers(min_value=0, max_value=0xFFFF_FFFF)
poses = st.builds(
    EgmPose,
    st.tuples(finite, finite, finite),
    st.tuples(finite, finite, finite, finite),
)
robot_messages = st.builds(
    EgmRobotMessage,
    seqno=uint32,
    robot_time_ms=uint32,
    feedback=poses,
    planned=st.none() | poses,
    motor_state=st.sampled_from(MotorState),
    mci_state=st.sampled_from(MciState),
    rapid_exec_state=st.sampled_from(RapidExecState),
    convergence_met=st.none() | st.booleans(),
    utilization_rate=st.none() | finite,
)
corrections = st.builds(
    EgmPathCorrectionMessage,
    seqno=uint32,
    sensor_time_ms=uint32,
    lateral_mm=finite,
    vertical_mm=finite,
    age_ms=uint32,
)


@given(robot_messages)
def test_robot_feedback_round_trips(message):
    assert decode_robot(encode_robot(message)) == message


@given(corrections)
def test_path_correction_round_trips(message):
    assert decode_path_correction(encode_path_correction(message)) == message


def test_path_correction_is_abbs_message_with_y_lateral_and_z_vertical():
    data = encode_path_correction(EgmPathCorrectionMessage(7, 1234, 1.5, -0.25, 12))
    wire = egm_pb2.EgmSensorPathCorr.FromString(data)
    assert wire.header.seqno == 7
    assert wire.header.tm == 1234
    assert wire.header.mtype == egm_pb2.EgmHeader.MSGTYPE_PATH_CORRECTION
    assert (wire.pathCorr.pos.x, wire.pathCorr.pos.y, wire.pathCorr.pos.z) == (0.0, 1.5, -0.25)
    assert wire.pathCorr.age == 12


def test_robot_feedback_as_abb_lays_it_out_decodes():
    wire = egm_pb2.EgmRobot()
    wire.header.seqno, wire.header.tm = 42, 9000
    wire.header.mtype = egm_pb2.EgmHeader.MSGTYPE_DATA
    pose = wire.feedBack.cartesian
    pose.pos.x, pose.pos.y, pose.pos.z = 300.0, -20.0, 8.5
    pose.orient.u0, pose.orient.u1, pose.orient.u2, pose.orient.u3 = 0.0, 0.0, 1.0, 0.0
    wire.motorState.state = egm_pb2.EgmMotorState.MOTORS_ON
    wire.mciState.state = egm_pb2.EgmMCIState.MCI_RUNNING
    wire.rapidExecState.state = egm_pb2.EgmRapidCtrlExecState.RAPID_RUNNING
    message = decode_robot(wire.SerializeToString())
    assert message.seqno == 42
    assert message.robot_time_ms == 9000
    assert message.feedback == EgmPose((300.0, -20.0, 8.5), (0.0, 0.0, 1.0, 0.0))
    assert message.planned is None
    assert (message.motor_state, message.mci_state, message.rapid_exec_state) == (
        MotorState.ON,
        MciState.RUNNING,
        RapidExecState.RUNNING,
    )


def _robot_wire() -> egm_pb2.EgmRobot:
    wire = egm_pb2.EgmRobot.FromString(
        encode_robot(EgmRobotMessage(1, 2, EgmPose((1.0, 2.0, 3.0))))
    )
    return wire


@pytest.mark.parametrize(
    ("spoil", "said"),
    [
        (lambda w: w.ClearField("header"), "without a header"),
        (lambda w: w.header.ClearField("seqno"), "without seqno"),
        (lambda w: setattr(w.header, "mtype", MessageType.PATH_CORRECTION), "message type 4"),
        (lambda w: w.ClearField("feedBack"), "without a feedback pose"),
        (lambda w: w.feedBack.cartesian.ClearField("orient"), "without position or orient"),
        (lambda w: setattr(w.feedBack.cartesian.pos, "x", math.nan), "not finite"),
    ],
)
def test_feedback_without_what_it_needs_is_refused_by_name(spoil, said):
    wire = _robot_wire()
    spoil(wire)
    with pytest.raises(EgmCodecError, match=said):
        decode_robot(wire.SerializeToString())


def test_the_one_message_is_not_taken_for_the_other():
    correction = encode_path_correction(EgmPathCorrectionMessage(1, 2, 0.0, 0.0, 0))
    with pytest.raises(EgmCodecError):
        decode_robot(correction)
    with pytest.raises(EgmCodecError):
        decode_path_correction(encode_robot(EgmRobotMessage(1, 2, EgmPose((1.0, 2.0, 3.0)))))


@pytest.mark.parametrize(
    "message",
    [
        EgmPathCorrectionMessage(-1, 0, 0.0, 0.0, 0),
        EgmPathCorrectionMessage(0, 2**32, 0.0, 0.0, 0),
        EgmPathCorrectionMessage(0, 0, math.nan, 0.0, 0),
        EgmPathCorrectionMessage(0, 0, 0.0, math.inf, 0),
        EgmPathCorrectionMessage(0, 0, 0.0, 0.0, -3),
    ],
)
def test_values_the_wire_cannot_carry_are_refused_before_it(message):
    with pytest.raises(EgmEncodeError):
        encode_path_correction(message)


@given(
    st.floats(min_value=-179, max_value=179),
    st.floats(min_value=-89, max_value=89),
    st.floats(min_value=-179, max_value=179),
)
def test_orientation_survives_the_quaternion(about_z, about_y, about_x):
    q = quaternion_from_zyx_deg(about_z, about_y, about_x)
    assert math.isclose(sum(c * c for c in q), 1.0, rel_tol=1e-9)
    back = zyx_deg_from_quaternion(q)
    for got, want in zip(back, (about_z, about_y, about_x), strict=True):
        assert math.isclose(got, want, abs_tol=1e-6)


@settings(max_examples=500)
@given(st.binary(max_size=600))
def test_any_bytes_give_a_message_or_the_codecs_own_error(data):
    for decode in (decode_robot, decode_path_correction):
        try:
            decode(data)
        except EgmCodecError:
            pass


@settings(max_examples=300)
@given(robot_messages, st.data())
def test_spoiled_messages_give_a_message_or_the_codecs_own_error(message, data):
    """Valid messages with bytes changed, cut or added: closer to a real garbled datagram than
    random bytes, since most of the protobuf structure is still there."""
    wire = bytearray(encode_robot(message))
    for _ in range(data.draw(st.integers(1, 4))):
        where = data.draw(st.integers(0, max(0, len(wire) - 1)))
        action = data.draw(st.sampled_from(("flip", "cut", "add")))
        if action == "flip" and wire:
            wire[where] ^= data.draw(st.integers(1, 255))
        elif action == "cut":
            del wire[where:]
        else:
            wire[where:where] = data.draw(st.binary(min_size=1, max_size=8))
    for decode in (decode_robot, decode_path_correction):
        try:
            decode(bytes(wire))
        except EgmCodecError:
            pass
