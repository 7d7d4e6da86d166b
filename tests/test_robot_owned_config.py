"""Config of a robot that owns its motion: robot.interface, the kuka_rsi section, robot_job."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cellctl.config.errors import ConfigInvalid
from cellctl.config.load import load_cell_config


@pytest.fixture
def config(repo: Path, tmp_path: Path) -> Path:
    shutil.copytree(repo / "config", tmp_path / "config")
    return tmp_path / "config"


def _rsi_cell(config: Path, only_bracket: bool = True) -> Path:
    cell = config / "cell.yaml"
    text = cell.read_text().replace(
        "  interface: serial\n", "  interface: kuka_rsi\n  kuka_rsi: {sensor_port: 59152}\n"
    )
    if only_bracket:  # the other shipped parts name no robot jobs
        lines = text.splitlines(keepends=True)
        text = "".join(
            line for line in lines if not line.startswith("  - parts/") or "bracket-a12" in line
        )
    cell.write_text(text)
    return cell


def _line(path: Path, text: str) -> int:
    return path.read_text().splitlines().index(text) + 1


def test_serial_stays_the_default_and_the_shipped_config_loads(repo):
    loaded = load_cell_config(repo / "config" / "cell.yaml")
    assert loaded.cell.robot.interface == "serial"
    assert not loaded.cell.robot.owns_motion
    assert loaded.cell.robot.link is not None


def test_a_kuka_rsi_cell_loads_with_its_settings(config):
    loaded = load_cell_config(_rsi_cell(config))
    robot = loaded.cell.robot
    assert robot.owns_motion
    assert robot.kuka_rsi is not None
    assert (robot.kuka_rsi.cycle_ms, robot.kuka_rsi.correction_frame) == (4, "base")
    seams = loaded.parts["bracket-a12"].seams
    assert [robot.jobs[s.robot_job] for s in seams] == [1, 2]


def test_every_seam_needs_a_known_robot_job(config):
    cell = _rsi_cell(config)
    part = config / "parts" / "bracket-a12.yaml"
    part.write_text(
        part.read_text()
        .replace(
            "    robot_job: BRACKET_A12_S1   # the robot's job, when the robot owns its motion\n",
            "",
        )
        .replace("robot_job: BRACKET_A12_S2", "robot_job: BRACKET_A12_S9")
    )
    with pytest.raises(ConfigInvalid) as raised:
        load_cell_config(cell)
    errors = [str(e) for e in raised.value.errors]
    assert errors == [
        f'{part}:{_line(part, "  - name: gusset-left")}: seams[0]: seam "gusset-left" needs '
        "robot_job: the robot (kuka_rsi) runs its own job for every seam",
        f"{part}:{_line(part, '    robot_job: BRACKET_A12_S9')}: seams[1].robot_job: robot job "
        '"BRACKET_A12_S9" has no number in robot.jobs of cell.yaml (known: BRACKET_A12_S1, '
        "BRACKET_A12_S2, COUPON_FILLET_80)",
    ]


def test_the_interface_needs_its_section_and_the_plc_its_signals(config):
    cell = config / "cell.yaml"
    cell.write_text(
        cell.read_text()
        .replace("  interface: serial\n", "  interface: kuka_rsi\n")
        .replace("      robot_seam_go:", "      robot_seam_went:")
    )
    with pytest.raises(ConfigInvalid) as raised:
        load_cell_config(cell)
    text = "\n".join(str(e) for e in raised.value.errors)
    assert (
        f"cell.yaml:{_line(cell, 'robot:')}: robot: kuka_rsi is required for interface kuka_rsi"
        in text
    )
    cell.write_text(
        cell.read_text().replace(
            "  interface: kuka_rsi\n", "  interface: kuka_rsi\n  kuka_rsi: {sensor_port: 59152}\n"
        )
    )
    with pytest.raises(ConfigInvalid) as raised:
        load_cell_config(cell)
    (error,) = [str(e) for e in raised.value.errors if "plc" in str(e)]
    assert error.endswith("outputs lack robot_seam_go")
    assert f"cell.yaml:{_line(cell, '    outputs:')}: plc.registers.outputs" in error


def test_a_stream_timeout_shorter_than_two_cycles_is_refused(config):
    cell = _rsi_cell(config)
    cell.write_text(
        cell.read_text().replace("{sensor_port: 59152}", "{cycle_ms: 12, stream_timeout_ms: 20}")
    )
    with pytest.raises(
        ConfigInvalid, match=r"stream_timeout_ms \(20\) must cover at least 2 cycles"
    ):
        load_cell_config(cell)


def test_an_abb_egm_cell_needs_its_section_and_loads_with_it(config):
    cell = _rsi_cell(config)
    cell.write_text(
        cell.read_text().replace(
            "  interface: kuka_rsi\n  kuka_rsi: {sensor_port: 59152}\n", "  interface: abb_egm\n"
        )
    )
    with pytest.raises(ConfigInvalid) as raised:
        load_cell_config(cell)
    text = "\n".join(str(e) for e in raised.value.errors)
    assert (
        f"cell.yaml:{_line(cell, 'robot:')}: robot: abb_egm is required for interface abb_egm"
        in text
    )
    cell.write_text(
        cell.read_text().replace(
            "  interface: abb_egm\n",
            "  interface: abb_egm\n  abb_egm: {sensor_port: 6511, comm_timeout_ms: 200}\n",
        )
    )
    robot = load_cell_config(cell).cell.robot
    assert robot.owns_motion
    assert robot.abb_egm is not None
    assert (robot.abb_egm.sensor_port, robot.abb_egm.comm_timeout_ms) == (6511, 200)
    assert robot.abb_egm.sample_rate_ms == 4


def test_an_egm_field_out_of_range_names_its_line(config):
    cell = _rsi_cell(config)
    cell.write_text(
        cell.read_text().replace(
            "  interface: kuka_rsi\n  kuka_rsi: {sensor_port: 59152}\n",
            "  interface: abb_egm\n  abb_egm:\n    sample_rate_ms: 6\n",
        )
    )
    with pytest.raises(ConfigInvalid) as raised:
        load_cell_config(cell)
    text = "\n".join(str(e) for e in raised.value.errors)
    assert f"cell.yaml:{_line(cell, '    sample_rate_ms: 6')}: robot.abb_egm.sample_rate_ms" in text


def test_an_abb_egm_cell_builds_the_egm_driver_behind_the_owned_robot(config):
    from cellctl.weld.owned_robot import OwnedRobot
    from cellctl.wiring import build_robot
    from drivers.robot.abb_egm import AbbEgmDriver

    cell = _rsi_cell(config)
    cell.write_text(
        cell.read_text().replace(
            "  interface: kuka_rsi\n  kuka_rsi: {sensor_port: 59152}\n",
            "  interface: abb_egm\n  abb_egm: {sensor_port: 6511}\n",
        )
    )
    robot = build_robot(load_cell_config(cell))
    assert isinstance(robot, OwnedRobot)
    assert isinstance(robot.link, AbbEgmDriver)
    assert robot.address.startswith("udp 127.0.0.1:6511")


def _touch_coupon_on_rsi(config: Path) -> tuple[Path, Path]:
    cell = _rsi_cell(config, only_bracket=False)
    cell.write_text(
        "".join(
            line
            for line in cell.read_text().splitlines(keepends=True)
            if not line.startswith("  - parts/") or "coupon-fillet-touch" in line
        ).replace("active_part: bracket-a12", "active_part: coupon-fillet-touch")
    )
    part = config / "parts" / "coupon-fillet-touch.yaml"
    part.write_text(
        part.read_text().replace(
            "    joint: fillet\n", "    joint: fillet\n    robot_job: COUPON_FILLET_80\n"
        )
    )
    return cell, part


def test_touch_sensing_through_the_robots_job_loads(config):
    cell, _ = _touch_coupon_on_rsi(config)
    loaded = load_cell_config(cell)
    part = loaded.parts["coupon-fillet-touch"]
    assert part.touch_frame is not None
    assert part.seams[0].sensing.seam_finding.by_touch


def test_touch_through_the_job_needs_the_touch_signals_in_the_plcs_map(config):
    cell, _ = _touch_coupon_on_rsi(config)
    cell.write_text(
        "".join(
            line
            for line in cell.read_text().splitlines(keepends=True)
            if "robot_touch_moving" not in line
        )
    )
    with pytest.raises(ConfigInvalid) as raised:
        load_cell_config(cell)
    text = "\n".join(str(e) for e in raised.value.errors)
    assert "plc.registers.inputs: robot.interface kuka_rsi needs the robot job's signals" in text
    assert "lack robot_touch_moving" in text


def test_touch_then_laser_on_a_robot_that_owns_its_motion_is_refused_naming_the_field(config):
    cell, part = _touch_coupon_on_rsi(config)
    part.write_text(
        part.read_text().replace("      seam_finding: touch\n", "      seam_finding: both\n")
    )
    with pytest.raises(ConfigInvalid) as raised:
        load_cell_config(cell)
    text = "\n".join(str(e) for e in raised.value.errors)
    seam_finding = _line(part, "      seam_finding: both")
    assert (
        f"coupon-fillet-touch.yaml:{seam_finding}: seams[0].sensing.seam_finding: seam "
        '"fillet": seam_finding both needs robot.interface serial: touch then laser through '
        "the robot's own job (kuka_rsi) is not built; choose touch or laser"
    ) in text
