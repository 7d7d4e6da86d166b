"""Hardware access for the welding cell: one module per device kind.

Two kinds of module live here, and the split matters to the simulator:

- pure modules (codecs and data types, no I/O): ``errors``, ``link``, ``modbus_map``,
  ``robot_protocol``. The simulator imports these so that both ends of a wire share one codec.
- driver modules (async I/O): ``modbus_link``, ``plc``, ``power_source``, ``robot``. Only the
  controller imports these.

Nothing in this package imports project code (checked by import-linter, see pyproject.toml).
"""
