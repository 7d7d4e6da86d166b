"""The simulated devices, each a wire peer speaking its real protocol with physics behind it:
the PLC (``plc``), the power source (``power_source``: its arc model and its Modbus peer), the
robot (``robot``: its wire peer; ``robot_motion``: its pure motion physics), an ABB robot's
side of EGM path correction over UDP (``robot_egm``) and the laser sensor (``sensor``, with its
renderer ``sensor_render``)."""
