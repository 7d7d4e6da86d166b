"""The signals of a robot job that the cell PLC carries, by name (pure data).

A robot that owns its motion (``drivers.robot.owned``) is told which job to run, and tells how
far its job is, through the cell PLC's register map: the integrator wires the robot's I/O to the
PLC. The controller's PLC driver and the simulated PLC both name the signals from here.
"""

from __future__ import annotations

from dataclasses import dataclass

# The robot's job signals as the PLC's register map names them (cell.yaml, plc.registers).
# Inputs: what the robot's job reports; outputs: what the controller asks of it.
ROBOT_JOB_INPUTS = (
    "robot_ready",  # the robot is in automatic external, drives on, no fault: a job may start
    "robot_at_seam_start",  # the job stands at (or passes) the seam's start: switch the arc on
    "robot_at_seam_end",  # the job reached the seam's end: crater, arc off
    "robot_job_done",  # the job is back clear of the part and has ended
    "robot_job_fault",  # the job stopped on a fault (its own, or the sensor interface's)
    "robot_at_search",  # the job stands at its search position before the seam's start and
    # waits for robot_search_done (seam finding: cellctl.weld.owned_search)
)
ROBOT_JOB_OUTPUTS = (
    "robot_job_number",  # which job to run (uint16), the robot reads it on robot_job_start
    "robot_job_start",  # rising edge: start the selected job
    "robot_hold",  # true: the robot stops on its path and waits (no program reset)
    "robot_stop",  # true: the robot stops and ends the job
    "robot_seam_go",  # true: the arc is established, run the seam; false at its end: the
    # crater is filled and the arc is off, retract
    "robot_search_done",  # true: seam finding is over; the job reads the frame offset (if
    # its program takes one) and goes on from its search position to the seam's start
    "robot_offset_x_mm",  # the frame offset the job shifts its seam by (base frame, int16 of
    "robot_offset_y_mm",  # 0.01 mm), read on robot_search_done's rising edge; zero when the
    "robot_offset_z_mm",  # interface holds the shift as its correction instead (RSI)
)
# Touch sensing through the robot's job (``cellctl.weld.owned_touch``): the job runs its taught
# searches by number; the power source stays on the controller's link, which watches the
# wire's contact and stops the search. Needed in the PLC's map only where a part program
# touches (``seam_finding: touch | both``, ``touch_frame``).
ROBOT_TOUCH_INPUTS = (
    "robot_touch_moving",  # the job's search move runs (from its start towards the plate)
)
ROBOT_TOUCH_OUTPUTS = (
    "robot_touch_search_number",  # which of the job's searches to run (uint16, 1..)
    "robot_touch_go",  # true: run that search (approach its start, then the search move);
    # the job returns to its search position and waits for the go to drop
    "robot_touch_stop",  # true: the wire touches: stop the search move where it is
)
# The frame offset's range on the wire: int16 at 0.01 mm.
ROBOT_OFFSET_LIMIT_MM = 327.67


@dataclass(frozen=True, slots=True)
class RobotJobSignals:
    """The robot job's inputs as the PLC last reported them (``ROBOT_JOB_INPUTS``)."""

    ready: bool
    at_seam_start: bool
    at_seam_end: bool
    job_done: bool
    job_fault: bool
    at_search: bool = False
    touch_moving: bool = False
