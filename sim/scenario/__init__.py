"""Fault-injection scenarios against a real controller (``runner``), the power-loss rig
(``powerloss``) and the controller process they both start (``rig``)."""
