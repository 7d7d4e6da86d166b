"""The simulated welding cell: the far end of every wire the controller has.

Each simulated device speaks its real protocol on a real transport (Modbus TCP on a loopback
socket, Modbus RTU and the robot protocol on ptys), with physics, ground truth and fault
injection behind it. The controller cannot tell it from hardware.

The simulator imports only the drivers' pure codecs and data types (``drivers.codecs``) and
their errors, never a driver class and never ``cellctl``.
"""
