"""The device watch's judgement of the robot's own "drives off" (``LinkWatch.on_status``).

Drives that were on and went off while the cell needs them are F103. A status that says "off"
before the robot has shown them on since Start asked for them is not: Start's request takes
some PLC scans to reach the robot (longer on a busy PC), and a status read before the request
may come back after it. A full run of the suite on a busy machine faulted a restart on such a
status.
"""

from __future__ import annotations

from cellctl.cell.faults import FaultCode
from cellctl.controller.links import LinkWatch
from drivers.codecs.robot_protocol import Pose, RobotState, RobotStatus


class Booked:
    """The faults raised (the controller's fault reaction books them; here, a list)."""

    def __init__(self) -> None:
        self.codes: list[FaultCode] = []

    def raise_fault(self, code, detail="", cause_seen=None, *, device_answered=False) -> None:
        self.codes.append(code)


def status(state: RobotState) -> RobotStatus:
    return RobotStatus(state, Pose(0, 0, 0, 0, 0, 0), 0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, 0, 0)


def watch(booked: Booked, in_use: list[bool]) -> LinkWatch:
    return LinkWatch(
        {},
        power_source=None,  # type: ignore[arg-type]  (on_status needs neither device)
        robot=None,  # type: ignore[arg-type]
        faults=booked,
        events=None,  # type: ignore[arg-type]
        supervisor=None,  # type: ignore[arg-type]
        watch_period_s=0.1,
        cycle_running=lambda: False,
        drives_in_use=lambda: in_use[0],
    )


def test_drives_off_is_a_fault_only_after_the_robot_showed_them_on():
    booked, in_use = Booked(), [False]
    links = watch(booked, in_use)
    links.on_status("robot", status(RobotState.DRIVES_OFF))  # Idle: off by intent
    in_use[0] = True  # Start asked for the drives
    links.on_status("robot", status(RobotState.DRIVES_OFF))  # not there yet (or read before)
    assert booked.codes == []
    links.on_status("robot", status(RobotState.IDLE))  # on
    links.on_status("robot", status(RobotState.DRIVES_OFF))  # and dropped: the fault
    assert booked.codes == [FaultCode.DRIVES_OFF]


def test_each_request_for_the_drives_waits_for_them_anew():
    booked, in_use = Booked(), [True]
    links = watch(booked, in_use)
    links.on_status("robot", status(RobotState.MOVING))
    in_use[0] = False  # the part ended, the drives dropped on purpose
    links.on_status("robot", status(RobotState.DRIVES_OFF))
    in_use[0] = True  # the next Start
    links.on_status("robot", status(RobotState.DRIVES_OFF))
    assert booked.codes == []
