"""The welding robot: the controller's link to it.

``RobotDriver`` (``drivers.robot.serial``) speaks our own serial protocol to a manipulator
whose motion the PC streams.
"""

from drivers.robot.serial import MotionRefused, RobotDriver

__all__ = ["MotionRefused", "RobotDriver"]
