"""An ABB robot on EGM and the controller's EGM driver over UDP on loopback, as the driver's
contract tests (tests/test_abb_egm.py) and the EGM benchmark (bench/bench_egm.py) both run
them: one robot (the simulated ABB, ``sim.devices.robot_egm``) at ``HOME_MM`` in a workspace
of ±1 m, settings on free ports, and the driver's stream awaited."""

from __future__ import annotations

import asyncio
import socket
import time

from drivers.codecs.abb_egm_settings import AbbEgmSettings
from drivers.codecs.settings import AxisRangeMm, RobotLimits, WorkspaceMm
from drivers.robot.abb_egm import AbbEgmDriver
from drivers.robot.owned import OwnedLinkState

HOME_MM = (300.0, 0.0, 400.0)  # the tool's start: seams run from here along +x
LIMITS = RobotLimits(
    workspace_mm=WorkspaceMm(
        x=AxisRangeMm(min=-1000, max=1000),
        y=AxisRangeMm(min=-1000, max=1000),
        z=AxisRangeMm(min=0, max=1000),
    )
)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def loopback_settings(**overrides: object) -> AbbEgmSettings:
    """Both ends' settings on free loopback ports (the robot's port fixed, so that the driver
    refuses any other sender), ``overrides`` on top."""
    fields: dict[str, object] = {"sensor_port": free_udp_port(), "robot_port": free_udp_port()}
    return AbbEgmSettings.model_validate(fields | overrides)


async def until_streaming(driver: AbbEgmDriver, timeout_s: float = 30.0) -> None:
    """Wait until the driver has the robot's stream (``RuntimeError`` after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while driver.state is not OwnedLinkState.STREAMING:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no EGM stream from the simulated robot within {timeout_s:g} s")
        await asyncio.sleep(0.01)
