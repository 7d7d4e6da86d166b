"""The cell's own rules, pure and without I/O: the PackML state machine (``packml``), the
fault catalogue (``faults``), one small class per interlock (``interlocks``), path geometry
(``geometry``), and what the plant sees of the cell and may ask of it (``events``)."""
