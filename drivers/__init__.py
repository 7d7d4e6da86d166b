"""Hardware access for the welding cell.

Two kinds of module live here, and the split matters to the simulator:

- ``codecs/``: pure codecs and data types, no I/O (register maps, the robot's protocol, the
  sensor's frames, the device settings), and ``errors``. The simulator imports only these, so
  that both ends of a wire share one codec.
- the links and drivers (I/O): ``link`` (what every supervised link shares), ``modbus/`` (the
  Modbus link and named registers), ``plc``, ``power_source``, ``robot/``, ``sensor/``. Only the
  controller imports these.

Nothing in this package imports project code (checked by import-linter, see pyproject.toml).
"""
