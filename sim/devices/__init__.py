"""The simulated devices, each a wire peer speaking its real protocol with physics behind it:
the PLC (``plc``), the power source (``power_source``: its arc model and its Modbus peer), the
robot (``robot``: its wire peer; ``robot_motion``: its pure motion physics) and the laser
sensor (``sensor``, with its renderer ``sensor_render``)."""
