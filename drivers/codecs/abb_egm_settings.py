"""Settings of an ABB robot's EGM link (Externally Guided Motion, path correction). Pure data.

Both ends read this one section: the controller's driver (``drivers.robot.abb_egm``) to know
where to listen, whom to answer and how patient to be; the simulated robot
(``sim.devices.robot_egm``) to know where to send and when to give up. It is meant to sit in
``robot.abb_egm`` beside ``robot.kuka_rsi`` once the robot interface is chosen in cell.yaml.

What each field is on a real robot (docs/robots/abb/README.md):

- ``sensor_host:sensor_port``: the controller PC, the ``Remote Address`` / ``Remote Port
  Number`` of the robot's UdpUc transmission protocol (Communication > Transmission Protocol);
  the robot sends its ``EgmRobot`` feedback there and takes the answers from there.
- ``robot_host`` (and, when set, ``robot_port``): the robot controller's service/WAN port
  address; datagrams from anything else are refused.
- ``sample_rate_ms``: ``EGMActMove ... \\SampleRate``, the robot's feedback period (4 ms steps).
- ``comm_timeout_ms``: ``EGMSetupUC ... \\CommTimeout`` (RAPID takes it in seconds): with no
  sensor message for this long while an EGM move runs, the robot stops with a communication
  error. The simulated robot does the same.
- ``max_path_correction_mm`` / ``max_correction_rate_mm_per_s``: the robot's own clamp and slew
  of a path correction; the controller refuses a correction beyond the first before the wire.
- ``stream_timeout_ms``: controller side: no feedback this long while a seam runs is a lost
  stream.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from drivers.codecs.model import StrictModel

Port = Annotated[int, Field(ge=1, le=65535)]

# EGM's default UdpUc port in ABB's examples (any free port will do; both ends must agree).
EGM_DEFAULT_PORT = 6510


class AbbEgmSettings(StrictModel):
    """ABB EGM path correction over UDP (``drivers.codecs.abb_egm``): see the module."""

    sensor_host: str = "127.0.0.1"
    sensor_port: Port = EGM_DEFAULT_PORT
    robot_host: str = "127.0.0.1"
    # The robot's source port; unset: any port of robot_host.
    robot_port: Port | None = None
    # EGMActMove \SampleRate: multiples of the robot's 4 ms cycle.
    sample_rate_ms: Annotated[int, Field(ge=4, le=1_000, multiple_of=4)] = 4
    # EGMSetupUC \CommTimeout, in ms here (RAPID: seconds).
    comm_timeout_ms: Annotated[int, Field(ge=8, le=60_000)] = 100
    max_path_correction_mm: Annotated[float, Field(gt=0, le=50)] = 10.0
    max_correction_rate_mm_per_s: Annotated[float, Field(gt=0, le=500)] = 20.0
    # Controller side: no feedback this long while a seam runs: the stream is lost.
    stream_timeout_ms: Annotated[int, Field(ge=8, le=5_000)] = 40

    @model_validator(mode="after")
    def _timeouts_cover_samples(self):
        if self.stream_timeout_ms < 2 * self.sample_rate_ms:
            raise ValueError(
                f"stream_timeout_ms ({self.stream_timeout_ms}) must cover at least 2 samples "
                f"({2 * self.sample_rate_ms} ms)"
            )
        if self.comm_timeout_ms < 2 * self.sample_rate_ms:
            raise ValueError(
                f"comm_timeout_ms ({self.comm_timeout_ms}) must cover at least 2 samples "
                f"({2 * self.sample_rate_ms} ms), or one lost answer stops the robot"
            )
        return self

    @property
    def address(self) -> str:
        robot = f"{self.robot_host}:{self.robot_port}" if self.robot_port else self.robot_host
        return f"udp {self.sensor_host}:{self.sensor_port} (robot {robot})"
