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
)
ROBOT_JOB_OUTPUTS = (
    "robot_job_number",  # which job to run (uint16), the robot reads it on robot_job_start
    "robot_job_start",  # rising edge: start the selected job
    "robot_hold",  # true: the robot stops on its path and waits (no program reset)
    "robot_stop",  # true: the robot stops and ends the job
    "robot_seam_go",  # true: the arc is established, run the seam; false at its end: the
    # crater is filled and the arc is off, retract
)


@dataclass(frozen=True, slots=True)
class RobotJobSignals:
    """The robot job's inputs as the PLC last reported them (``ROBOT_JOB_INPUTS``)."""

    ready: bool
    at_seam_start: bool
    at_seam_end: bool
    job_done: bool
    job_fault: bool
