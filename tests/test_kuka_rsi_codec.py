"""The KUKA RSI telegram codec: the published layout, round trips, and any bytes in."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.codecs.kuka_rsi import (
    CartesianPose,
    RobotTelegram,
    RsiCodecError,
    SensorTelegram,
    decode_robot_telegram,
    decode_sensor_telegram,
    encode_robot_telegram,
    encode_sensor_telegram,
)

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# As KUKA's examples show it (line breaks and spaces as an RSI 3 controller sends them).
PUBLISHED_ROB = (
    b'<Rob Type="KUKA">\r\n'
    b'<RIst X="512.0000" Y="-12.5000" Z="300.0000" A="180.0000" B="0.0000" C="180.0000" />\r\n'
    b'<RSol X="512.0000" Y="-12.5000" Z="300.0000" A="180.0000" B="0.0000" C="180.0000" />\r\n'
    b'<AIPos A1="0.0" A2="-90.0" A3="90.0" A4="0.0" A5="90.0" A6="0.0" />\r\n'
    b'<ASPos A1="0.0" A2="-90.0" A3="90.0" A4="0.0" A5="90.0" A6="0.0" />\r\n'
    b'<Delay D="3" />\r\n'
    b"<IPOC>4021776</IPOC>\r\n"
    b"</Rob>"
)


def test_a_published_robot_telegram_decodes():
    telegram = decode_robot_telegram(PUBLISHED_ROB)
    assert telegram.ipoc == 4021776
    assert telegram.actual == CartesianPose(512.0, -12.5, 300.0, 180.0, 0.0, 180.0)
    assert telegram.axes_actual_deg == (0.0, -90.0, 90.0, 0.0, 90.0, 0.0)
    assert telegram.late_count == 3
    assert telegram.robot_type == "KUKA"


def test_the_answer_has_the_published_layout():
    answer = SensorTelegram(4021776, CartesianPose(0.12, -0.04, 0, 0, 0, 0), message="cellctl")
    assert encode_sensor_telegram(answer) == (
        b'<Sen Type="ImFree"><EStr>cellctl</EStr>'
        b'<RKorr X="0.1200" Y="-0.0400" Z="0.0000" A="0.0000" B="0.0000" C="0.0000"/>'
        b"<IPOC>4021776</IPOC></Sen>"
    )


def test_unknown_elements_of_a_configuration_are_kept():
    data = PUBLISHED_ROB.replace(b"<IPOC>", b'<Tech C11="1.5" /><DiL>7</DiL><IPOC>')
    assert decode_robot_telegram(data).extra == (("Tech", "C11=1.5"), ("DiL", "7"))


@pytest.mark.parametrize(
    ("damage", "why"),
    [
        (lambda d: d.replace(b"<IPOC>4021776</IPOC>", b""), "no <IPOC>"),
        (
            lambda d: d.replace(b'Y="-12.5000" Z="300.0000" A="180.0000" B="0.0000" C', b"C", 1),
            "lacks",
        ),
        (lambda d: d.replace(b'X="512.0000"', b'X="nan"', 1), "not finite"),
        (lambda d: d.replace(b'X="512.0000"', b'X="fast"', 1), "not a number"),
        (lambda d: d.replace(b"4021776", b"-4"), "whole number"),
        (lambda d: d.replace(b"</Rob>", b""), "not an RSI"),
        (lambda d: d.replace(b"<Delay", b"<Delay<"), "not an RSI element"),
        (lambda d: d.replace(b"Rob", b"Sen"), "not <Rob>"),
        (lambda d: d + b"\xff", "ASCII"),
    ],
)
def test_a_damaged_robot_telegram_is_refused_saying_why(damage, why):
    with pytest.raises(RsiCodecError, match=why):
        decode_robot_telegram(damage(PUBLISHED_ROB))


def test_an_answer_needs_its_ipoc_and_correction():
    with pytest.raises(RsiCodecError, match="no <IPOC>"):
        decode_sensor_telegram(
            b'<Sen Type="ImFree"><RKorr X="0" Y="0" Z="0" A="0" B="0" C="0"/></Sen>'
        )
    with pytest.raises(RsiCodecError, match="no <RKorr>"):
        decode_sensor_telegram(b'<Sen Type="ImFree"><IPOC>4</IPOC></Sen>')


def test_encoding_refuses_what_cannot_be_written():
    with pytest.raises(RsiCodecError, match="not finite"):
        encode_sensor_telegram(SensorTelegram(4, CartesianPose(float("inf"))))
    with pytest.raises(RsiCodecError, match="IPOC"):
        encode_sensor_telegram(SensorTelegram(-1))
    with pytest.raises(RsiCodecError, match="EStr"):
        encode_sensor_telegram(SensorTelegram(4, message="</Sen>"))


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
poses = st.builds(CartesianPose, finite, finite, finite, finite, finite, finite)
ipocs = st.integers(min_value=0, max_value=2**63 - 1)


@FUZZ
@given(
    ipoc=ipocs,
    actual=poses,
    commanded=st.none() | poses,
    axes=st.none() | st.tuples(*[finite] * 6),
    late=st.none() | st.integers(min_value=0, max_value=10**9),
)
def test_a_robot_telegram_round_trips_to_its_precision(ipoc, actual, commanded, axes, late):
    telegram = RobotTelegram(ipoc, actual, commanded, axes, None, late)
    decoded = decode_robot_telegram(encode_robot_telegram(telegram, precision=4))
    assert decoded.ipoc == ipoc
    assert decoded.late_count == late
    assert decoded.actual.values() == pytest.approx(actual.values(), abs=6e-5)
    assert (decoded.commanded is None) == (commanded is None)
    assert (decoded.axes_actual_deg is None) == (axes is None)


@FUZZ
@given(ipoc=ipocs, correction=poses)
def test_an_answer_round_trips_to_its_precision(ipoc, correction):
    decoded = decode_sensor_telegram(encode_sensor_telegram(SensorTelegram(ipoc, correction)))
    assert decoded.ipoc == ipoc
    assert decoded.correction.values() == pytest.approx(correction.values(), abs=6e-5)


@FUZZ
@given(st.binary(max_size=600))
def test_any_bytes_in_only_the_codecs_own_error_out(data):
    for decode in (decode_robot_telegram, decode_sensor_telegram):
        try:
            decode(data)
        except RsiCodecError:
            pass


@FUZZ
@given(
    position=st.integers(min_value=0, max_value=len(PUBLISHED_ROB) - 1), value=st.integers(0, 255)
)
def test_a_telegram_damaged_anywhere_decodes_or_is_refused(position, value):
    data = bytearray(PUBLISHED_ROB)
    data[position] = value
    try:
        decode_robot_telegram(bytes(data))
    except RsiCodecError:
        pass


# Text made of the telegrams' own pieces reaches deeper into the parser than random bytes.
telegram_pieces = st.lists(
    st.sampled_from(
        [
            '<Rob Type="KUKA">',
            "</Rob>",
            '<Sen Type="ImFree">',
            "</Sen>",
            "<IPOC>",
            "</IPOC>",
            "<RIst ",
            "<RKorr ",
            "<Delay ",
            'D="',
            'X="',
            'Y="',
            'Z="',
            'A="',
            'B="',
            'C="',
            '"',
            "/>",
            ">",
            "<",
            "1",
            "-0.5",
            "1e400",
            "nan",
            " ",
            "\r\n",
            "<EStr>",
            "</EStr>",
        ]
    ),
    max_size=60,
).map(lambda pieces: "".join(pieces).encode("ascii"))


@FUZZ
@given(telegram_pieces)
def test_telegram_shaped_nonsense_is_only_ever_the_codecs_error(data):
    test_any_bytes_in_only_the_codecs_own_error_out.hypothesis.inner_test(data)


def test_the_shipped_robot_side_templates_fit_the_codec(repo):
    """docs/robots/kuka: the ETHERNET configuration receives what the answer carries, sends
    what the decoder needs, and the context's limits and timeout match cell.yaml's defaults."""
    import xml.etree.ElementTree as ET

    from drivers.codecs.settings import KukaRsiSettings

    folder = repo / "docs" / "robots" / "kuka"
    ethernet = ET.parse(folder / "cellctl_rsi_ethernet.xml").getroot()
    defaults = KukaRsiSettings()
    assert ethernet.findtext("CONFIG/SENTYPE") == defaults.sensor_type
    assert ethernet.findtext("CONFIG/PORT") == str(defaults.sensor_port)
    received = [e.get("TAG") for e in ethernet.find("RECEIVE/ELEMENTS")]
    assert received == [f"RKorr.{key}" for key in ("X", "Y", "Z", "A", "B", "C")]
    sent = {e.get("TAG") for e in ethernet.find("SEND/ELEMENTS")}
    assert {"DEF_RIst", "DEF_Delay"} <= sent
    context = ET.parse(folder / "cellctl_rsi.rsix").getroot()
    parameters = {p.get("Name"): p.get("ParamValue") for p in context.iter() if p.get("Name")}
    assert parameters["Timeout"] == str(defaults.late_answer_limit)
    assert parameters["Precision"] == str(defaults.precision)
    assert float(parameters["UpperLimX"]) == defaults.max_correction_mm
    assert parameters["ConfigFile"] == "cellctl_rsi_ethernet.xml"
