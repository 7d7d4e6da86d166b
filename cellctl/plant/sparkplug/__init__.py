"""The cell as a Sparkplug B edge node over MQTT (``node``), with its payload codec
(``codec``)."""
