"""Pure codecs and data types: bytes in, messages out, no I/O.

The controller's drivers and the simulator's devices share these, so that both ends of a wire
agree byte for byte and a property test can fuzz one codec for both: the Modbus register maps
(``modbus_map``), the power source's register meanings (``power_source_protocol``), the robot's
serial protocol (``robot_protocol``), the laser sensor's frame stream (``sensor_protocol``),
ABB's EGM path correction (``abb_egm``, on the generated ``egm_proto``; its settings in
``abb_egm_settings``), and the device settings (``settings``, on ``model.StrictModel``).
"""
