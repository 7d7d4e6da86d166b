"""cellctl: the controller, operator HMI, configuration, vision and production store of a
robotic welding cell. See README.md and shared/DESIGN.md for the map."""

__version__ = "0.1.0"
