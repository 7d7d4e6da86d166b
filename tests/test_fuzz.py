"""Fuzzing with hypothesis at the doors where the world comes in.

- The config loader, given the shipped config with random damage, or with a hostile value
  (a date that is none, an alias loop, deep nesting, an integer of thousands of digits) on
  any line: it loads, or it raises ``ConfigInvalid`` whose every error names its file; never
  anything else.
- Each real driver, fed any bytes at all as its device's answers by the simulator (over the
  real socket or pty): a request returns or raises ``DeviceError``, never anything else; the
  driver sends nothing it was not asked to; and the link serves true answers afterwards.

(The robot's frame codec is fuzzed in test_robot_protocol.py, the register codec in
test_modbus_map.py.)
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cellctl.config import load_cell_config
from cellctl.config.errors import ConfigInvalid
from cellctl.testing import free_port
from drivers.errors import DeviceError
from drivers.plc import PlcDriver
from drivers.power_source import PowerSourceDriver
from drivers.robot import RobotDriver
from sim.cellfile import load_cell_devices
from sim.clock import SimClock
from sim.devices.plc import SimulatedPlc
from sim.devices.power_source import SimulatedPowerSource
from sim.devices.robot import SimulatedRobot
from tests.waiting import eventually

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config"
FILES = ["cell.yaml", "parts/bracket-a12.yaml", "procedures/mag-fillet-a4.yaml"]
FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

# -- the config loader ------------------------------------------------------------------------

# fmt: off
YAML_BITS = st.sampled_from(
    [
        "", " ", ":", "- ", "[", "]", "{", "}", "'", '"', "#", "&a", "*a",
        "!!python/object:os.system", "null", "~", "-1", "1e309", "nan", ".inf", "0x10", "true",
        "yes", "999999999999", "\t",
        "\x00", "é", "---", "...", "? ", "|", ">", "%", "@",
        # What YAML cannot construct or a loader cannot afford (issue 14): a date that is
        # none, a tag on the wrong text, an alias loop, nesting, integers past any limit.
        "2026-13-45", "!!int x", "!!binary", "!!timestamp", "&b [*b]", "<<: ", "*b",
        "[" * 40, "{a: " * 40, "9" * 45, "1:" * 30 + "1",
    ]
)
# Values that each parse as YAML but that no loader should turn into a traceback (issue 14).
# (The alias bomb is left to test_config, which runs it in a process with capped memory.)
HOSTILE_VALUES = st.sampled_from(
    [
        "2026-13-45", "!!int fifty", "!!float x", "!!python/object:os.system ls", "&b [*b]",
        "[" * 40 + "]" * 40, "{a: " * 40 + "1" + "}" * 40, "9" * 5000, "-" + "1:" * 5000 + "1",
        "0x" + "f" * 5000, "!!binary '%%'", "{<<: 5}",
    ]
)
# fmt: on
DAMAGE = st.tuples(
    st.sampled_from(FILES),
    st.sampled_from(
        ["delete", "duplicate", "replace_value", "insert", "truncate", "swap", "indent", "dedent"]
    ),
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=10_000),
    st.lists(YAML_BITS | st.text(max_size=6), min_size=1, max_size=4).map("".join),
)


def damaged(text: str, how: str, a: int, b: int, bits: str) -> str:
    lines = text.splitlines(keepends=True)
    i, j = a % len(lines), b % len(lines)
    if how == "delete":
        del lines[i]
    elif how == "duplicate":
        lines.insert(i, lines[i])
    elif how == "replace_value":
        key, colon, _ = lines[i].partition(":")
        lines[i] = f"{key}{colon} {bits}\n" if colon else bits + "\n"
    elif how == "insert":
        lines.insert(i, bits + "\n")
    elif how == "truncate":
        return text[: a % len(text)]
    elif how == "swap":
        lines[i], lines[j] = lines[j], lines[i]
    elif how == "indent":
        lines[i] = "  " + lines[i]
    elif how == "dedent":
        lines[i] = lines[i].lstrip()
    return "".join(lines)


@FUZZ
@given(damage=st.lists(DAMAGE, min_size=1, max_size=3))
def test_a_damaged_config_loads_or_is_refused_naming_its_file(damage):
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "config"
        shutil.copytree(CONFIG, folder, ignore=shutil.ignore_patterns("scenarios"))
        for file, how, a, b, bits in damage:
            path = folder / file
            path.write_text(damaged(path.read_text(), how, a, b, bits))
        _loads_or_names_its_files(folder)


def _loads_or_names_its_files(folder: Path) -> None:
    refused: ConfigInvalid | None = None
    try:
        load_cell_config(folder / "cell.yaml")
    except ConfigInvalid as invalid:
        refused = invalid
    if refused is not None:
        assert refused.errors, "refused without saying why"
        for error in refused.errors:
            where = str(error)
            assert any(name in where for name in ("cell.yaml", "parts/", "procedures/")), where


@FUZZ
@given(file=st.sampled_from(FILES), line=st.integers(0, 10_000), value=HOSTILE_VALUES)
def test_a_hostile_value_anywhere_is_refused_naming_its_file(file, line, value):
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "config"
        shutil.copytree(CONFIG, folder, ignore=shutil.ignore_patterns("scenarios"))
        path = folder / file
        path.write_text(damaged(path.read_text(), "replace_value", line, 0, value))
        _loads_or_names_its_files(folder)


# -- the drivers ------------------------------------------------------------------------------

ANSWERS = st.lists(st.binary(max_size=300), min_size=1, max_size=6)


def _fast(link, port):
    fast = {"port": port, "timeout_ms": 40, "retries": 0,
            "reconnect_delay_min_ms": 10, "reconnect_delay_max_ms": 50}  # fmt: skip
    return link.model_copy(update=fast)


async def _survives(request, answers: int) -> None:
    for _ in range(answers):
        try:
            await request()
        except DeviceError:
            pass  # the only way a request may fail


@FUZZ
@given(answers=ANSWERS)
def test_the_plc_driver_survives_any_bytes_as_answers(answers):
    async def run() -> None:
        base = load_cell_devices(CONFIG / "cell.yaml").plc
        plc_settings = base.model_copy(update={"link": _fast(base.link, free_port())})
        plc = SimulatedPlc(plc_settings, SimClock(20))
        await plc.start()
        driver = PlcDriver(plc_settings)
        try:
            await driver.connect(heartbeat=False)
            await driver.wait_connected(2)
            outputs = plc_settings.registers.outputs
            outputs_before = {name: plc.image.output(name) for name in outputs}
            plc.faults.replace_answers(answers)
            await _survives(driver.read_inputs, len(answers))
            plc.faults.clear()
            # nothing was written
            assert {name: plc.image.output(name) for name in outputs} == outputs_before
            await eventually(lambda: driver.connected, what="the PLC link back")
            inputs = await driver.read_inputs()
            assert inputs["estop_chain_ok"] is True
            assert inputs["door_closed"] is True
        finally:
            await driver.close()
            await plc.close()

    asyncio.run(run())


@FUZZ
@given(answers=ANSWERS)
def test_the_power_source_driver_survives_any_bytes_as_answers(answers):
    async def run() -> None:
        with tempfile.TemporaryDirectory() as scratch:
            link = Path(scratch) / "power_source"
            base = load_cell_devices(CONFIG / "cell.yaml").power_source
            source_settings = base.model_copy(update={"link": _fast(base.link, str(link))})
            source = SimulatedPowerSource(source_settings, SimClock(20), link_path=link)
            await source.start()
            driver = PowerSourceDriver(source_settings)
            try:
                await driver.connect()
                await driver.wait_connected(2)
                source.faults.replace_answers(answers)
                await _survives(driver.read_status, len(answers))
                source.faults.clear()
                assert not source.commands.arc_on  # nothing unsafe went out
                await eventually(lambda: driver.connected, what="the power source link back")
                for _ in range(20):  # the first answer after garbage may still be lost
                    try:
                        status = await driver.read_status()
                        break
                    except DeviceError:
                        await asyncio.sleep(0.02)
                assert status.ready
                assert not status.arc_established
            finally:
                await driver.close()
                await source.close()

    asyncio.run(run())


@FUZZ
@given(answers=ANSWERS)
def test_the_robot_driver_survives_any_bytes_as_answers(answers):
    async def run() -> None:
        with tempfile.TemporaryDirectory() as scratch:
            link = Path(scratch) / "robot"
            base = load_cell_devices(CONFIG / "cell.yaml").robot
            robot_settings = base.model_copy(update={"link": base.link.model_copy(
                update={"port": str(link), "timeout_ms": 40, "retries": 1})})  # fmt: skip
            robot = SimulatedRobot(robot_settings, SimClock(20), str(link))
            await robot.start()
            driver = RobotDriver(robot_settings)
            try:
                await driver.connect()
                await driver.wait_connected(2)
                position = robot.status().pose.position_mm
                robot.faults.replace_answers(answers)
                await _survives(driver.read_status, len(answers))
                robot.faults.clear()
                assert robot.status().pose.position_mm == position  # nothing moved it
                await eventually(lambda: driver.connected, what="the robot link back")
                for _ in range(20):
                    try:
                        status = await driver.read_status()
                        break
                    except DeviceError:
                        await asyncio.sleep(0.02)
                assert status.pose.position_mm == position
            finally:
                await driver.close()
                await robot.close()

    asyncio.run(run())
