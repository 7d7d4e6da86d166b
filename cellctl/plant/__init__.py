"""The plant's interfaces to the cell: OPC UA for the HMI, MES and SCADA (``opcua/``) and MQTT
Sparkplug B for the plant level (``sparkplug/``). They read the cell through its read model
and command it through a small protocol (``cellctl.cell.events``)."""
