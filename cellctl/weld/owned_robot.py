"""A robot that owns its motion, as the rest of the controller sees a robot (``Robot``).

The controller's pieces (the fault reaction, the link watch, the part run) speak to "the robot":
hold it, resume it, stop it, read its status, watch its link. ``OwnedRobot`` gives them that
over the two halves of a robot that runs its own job (``drivers.robot.owned``):

- ``hold`` / ``resume`` / ``stop`` go through the PLC (``RobotJobIo``: ``robot_hold``,
  ``robot_stop``), as the integrator wires them: the fault reaction's "hold through I/O";
- ``read_status`` is made from the job's signals (the PLC's last scan) and the real-time
  stream's last sample: FAULT when the job reports one,
  HELD while held, MOVING while a job runs, IDLE otherwise; DRIVES_OFF without drive enable;
- the link is the real-time link's socket: up from ``connect`` (bound) until ``close``; a lost
  stream or the robot's interface stop is raised by the owned cycle's fault listener (F132,
  F135), not by a link state, since the stream is silent between jobs by design;
- every motion request (``move_*``, ``set_weave``) is refused with ``MotionRefused``: the
  robot's job moves it, never the controller;
- while a seam is tracked (``track``), the laser tracking sees it as it sees our serial
  robot: a status per telegram (the stream's sample, its pose projected on the taught path as
  the path position) to its status listeners, and ``send_correction`` (from the correction
  stream's thread) goes out as the path correction, on top of the offset seam finding held,
  in the seam frame where the torch is. Outside a tracked seam ``send_correction`` is refused.

The job's I/O is attached once the controller has its PLC scan (``attach_job_io``); until then
hold, resume and stop raise ``LinkDown``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from drivers.codecs.robot_protocol import FaultCode, Pose, RobotState, RobotStatus
from drivers.codecs.seam_path import SeamPath
from drivers.codecs.settings import RobotSettings
from drivers.codecs.weave import WeaveShape
from drivers.errors import DeviceError, LinkDown
from drivers.link import LinkState, LinkStats, StateListener
from drivers.robot.owned import FAULT_STATES, PathCorrection, RobotJobIo, RobotOwnedMotion
from drivers.robot.serial import MotionRefused

StatusListener = Callable[[RobotStatus, float], None]
STATUS_PUMP_PERIOD_S = 0.002  # half an RSI cycle: every telegram's sample goes on


class OwnedRobot:
    """``drivers.robot.Robot`` over a robot-owned-motion backend and its job's I/O."""

    def __init__(self, settings: RobotSettings, link: RobotOwnedMotion) -> None:
        self.settings = settings
        self.link = link
        self.device = link.device
        self.stats = LinkStats()
        self.job_io: RobotJobIo | None = None
        self.last_sample: tuple[RobotStatus, float] | None = None
        self._listeners: list[StateListener] = []
        self._status_listeners: list[StatusListener] = []
        self._held = False
        # The owned cycle has a seam's job in hand: it books the job's faults itself (F135).
        self.seam_in_hand = False
        # The job's fault signal is up for a stop booked already (F132/F135): not again F140.
        self._interface_stop_booked = False
        # The seam being tracked: (path id, taught path, held offset), one immutable tuple
        # (the correction stream's thread reads it); None outside a tracked seam.
        self._tracking: tuple[int, SeamPath, tuple[float, float]] | None = None
        self._position_mm = 0.0  # the pump's last path position (the stream's thread reads it)
        self._sent = (0.0, 0.0)  # the last correction sent, as the status reports it
        self._pump: asyncio.Task[None] | None = None

    def attach_job_io(self, job_io: RobotJobIo) -> None:
        self.job_io = job_io

    # -- the link (drivers.link.DeviceLink) ---------------------------------------------------

    @property
    def address(self) -> str:
        return self.link.address

    @property
    def connected(self) -> bool:
        return self.stats.state is LinkState.UP

    @property
    def silent(self) -> bool:
        return False

    def add_state_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def _set_state(self, state: LinkState) -> None:
        if state is not self.stats.state:
            self.stats.set_state(state)
            for listener in self._listeners:
                listener(state)

    async def connect(self) -> None:
        self._set_state(LinkState.CONNECTING)
        try:
            await self.link.start_link()
        except LinkDown as error:
            self.stats.record_error(error)
            self._set_state(LinkState.DOWN)
            return
        self._set_state(LinkState.UP)

    async def wait_connected(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.connected:
            if time.monotonic() >= deadline:
                raise LinkDown(self.device, self.address, f"not up within {timeout_s:g} s")
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        await self.untrack()
        await self.link.stop_link()
        self._set_state(LinkState.DISCONNECTED)

    # -- what the fault reaction and the part run ask -----------------------------------------

    def _job(self, what: str) -> RobotJobIo:
        if self.job_io is None:
            raise LinkDown(self.device, self.address, f"no job I/O yet; {what} not sent")
        return self.job_io

    async def hold(self) -> None:
        """Hold the job on its path, through the PLC's ``robot_hold`` (idempotent)."""
        await self._request(self._job("HOLD").set_hold(True))
        self._held = True

    async def resume(self) -> None:
        await self._request(self._job("RESUME").set_hold(False))
        self._held = False

    async def stop(self) -> None:
        """End the job through the PLC's ``robot_stop`` (idempotent). The stream's fault state
        (lost, stopped on its interface) ends with the job: its fault is booked already, and
        the next job's stream starts afresh."""
        booked = self.link.state in FAULT_STATES
        await self._request(self._job("STOP").stop_job())
        # The job's fault signal outlives the stream's fault state by a PLC scan or two: it
        # is the same stop, booked already (see read_status).
        self._interface_stop_booked = self._interface_stop_booked or booked
        self.link.reset_fault()

    def job_fault_booked(self) -> None:
        """The job's fault signal now up is booked (the owned cycle's F135): the status
        reports the job standing, not a robot fault, until the signal drops."""
        self._interface_stop_booked = True

    async def _request(self, request) -> None:  # type: ignore[no-untyped-def]
        self.stats.requests += 1
        try:
            await request
        except DeviceError as error:
            self.stats.record_error(error)
            raise
        self.stats.responses += 1

    async def read_status(self) -> RobotStatus:
        """The robot as its job signals and its stream show it (see the module)."""
        job = self._job("STATUS")
        signals = job.signals()
        feedback = self.link.latest_feedback()
        pose = (
            Pose(*feedback.position_mm, *reversed(feedback.orientation_deg))
            if feedback is not None
            else Pose(*self.settings.home_pose_mm)
        )
        # The stream's own faults are raised by the owned cycle's listener (F132, F135), not
        # again here as a robot fault: a job that faulted on its interface's stop (RSI's late
        # packets, EGM's ERR_UDPUC_COMM) stands, its cause booked.
        if not signals.job_fault:
            self._interface_stop_booked = False
        elif self.link.state in FAULT_STATES:
            self._interface_stop_booked = True
        if signals.job_fault and (self._interface_stop_booked or self.seam_in_hand):
            state = RobotState.IDLE
        elif signals.job_fault:
            state = RobotState.FAULT
        elif self._held:
            state = RobotState.HELD
        elif not signals.ready and not signals.job_done:
            state = RobotState.MOVING
        else:
            state = RobotState.IDLE
        status = RobotStatus(
            state=state,
            pose=pose,
            path_id=0,
            path_position_mm=0.0,
            path_length_mm=0.0,
            tool_speed_mm_per_s=0.0,
            queue_depth=0,
            lateral_correction_mm=0.0,
            vertical_correction_mm=0.0,
            last_correction_seq=0,
            fault_code=FaultCode.NONE,
        )
        sampled_at = feedback.received_at_s if feedback is not None else time.monotonic()
        self.last_sample = (status, sampled_at)
        for listener in self._status_listeners:
            listener(status, sampled_at)
        return status

    def add_status_listener(self, listener: StatusListener) -> None:
        self._status_listeners.append(listener)

    # -- motion: the job's, never the controller's --------------------------------------------

    # -- a tracked seam (the laser tracking's view) ---------------------------------------------

    def track(self, path_id: int, path: SeamPath, held_mm: tuple[float, float]) -> None:
        """From now on, statuses on ``path_id`` along ``path`` go to the status listeners and
        corrections are taken, on top of ``held_mm`` (seam finding's offset)."""
        self._tracking = (path_id, path, held_mm)
        self._position_mm = 0.0
        if self._pump is None:
            self._pump = asyncio.create_task(self._pump_statuses(), name="owned robot statuses")

    async def untrack(self) -> None:
        self._tracking = None
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _pump_statuses(self) -> None:
        """Every new sample of the stream as a status of the tracked path (on the loop)."""
        last_sequence: int | None = None
        while True:
            tracking, feedback = self._tracking, self.link.latest_feedback()
            if tracking is not None and feedback is not None and feedback.sequence != last_sequence:
                last_sequence = feedback.sequence
                path_id, path, _ = tracking
                position = path.locate(feedback.position_mm, self._position_mm)[0]
                self._position_mm = position
                status = RobotStatus(
                    state=RobotState.HELD if self._held else RobotState.MOVING,
                    pose=Pose(*feedback.position_mm, *reversed(feedback.orientation_deg)),
                    path_id=path_id,
                    path_position_mm=min(max(position, 0.0), path.length_mm),
                    path_length_mm=path.length_mm,
                    tool_speed_mm_per_s=0.0,
                    queue_depth=1,
                    lateral_correction_mm=self._sent[0],
                    vertical_correction_mm=self._sent[1],
                    last_correction_seq=0,
                    fault_code=FaultCode.NONE,
                )
                self.last_sample = (status, feedback.received_at_s)
                for listener in self._status_listeners:
                    listener(status, feedback.received_at_s)
            await asyncio.sleep(STATUS_PUMP_PERIOD_S)

    def send_correction(self, lateral_mm: float, vertical_mm: float) -> None:
        """The tracking's correction (seam frame, relative to the held offset) to the robot,
        from any thread; ``MotionRefused`` outside a tracked seam or beyond the limit."""
        tracking = self._tracking
        if tracking is None:
            self._refuse("CORRECTION outside a tracked seam")
            return
        _, path, (held_lateral, held_vertical) = tracking
        s_mm = min(max(self._position_mm, 0.0), path.length_mm)
        self.link.set_path_correction(
            PathCorrection(
                held_lateral + lateral_mm, held_vertical + vertical_mm, path.frame_at(s_mm)
            )
        )
        self._sent = (lateral_mm, vertical_mm)

    def _refuse(self, what: str) -> None:
        error = MotionRefused(
            self.device,
            self.address,
            f"{what} refused: the robot runs its own job (robot.interface "
            f"{self.settings.interface}); the controller does not move it (nothing sent)",
        )
        self.stats.record_refusal(error)
        raise error

    async def move_linear(self, pose: Pose, speed_mm_per_s: float, path_id: int = 0) -> None:
        self._refuse("MOVE_LINEAR")

    async def move_circular(
        self,
        via_mm: tuple[float, float, float],
        pose: Pose,
        speed_mm_per_s: float,
        path_id: int = 0,
    ) -> None:
        self._refuse("MOVE_CIRCULAR")

    async def move_joint(self, pose: Pose, speed_percent: float) -> None:
        self._refuse("MOVE_JOINT")

    async def set_weave(self, path_id: int, shape: WeaveShape) -> None:
        self._refuse("WEAVE")
