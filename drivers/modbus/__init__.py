"""Modbus devices: one supervised link per unit (``link``) and named registers on it
(``register_device``), over pymodbus's async TCP and RTU clients."""
