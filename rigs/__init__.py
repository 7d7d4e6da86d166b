"""Rigs that put the real controller and the simulated cell (or a real database server, a
real MQTT broker) together in one process, for the tests and the benchmarks alike.

They sit outside both packages on purpose: the controller may not import the simulator, nor
the simulator the controller; a rig needs both.
"""
