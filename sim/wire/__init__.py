"""The simulator's wires: pty links (``pty_link``), faults at the wire (``faults``), and the
control channel (``control``) with the one fault-injection command table (``injection``) that
``cellsim ctl`` and scenario files both use."""
