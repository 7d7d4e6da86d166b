"""Seam sensing: where the joint really is before the arc, and the corrections while it burns.

``protocol`` is the hook the weld cycle calls (``SeamSensing``; ``NoSensing`` for a cell
without a sensor). The laser-line sensor's implementation (``laser``) is built from the pure
vision (``vision/``) and the tracking pieces; ``recording`` keeps each tracked run and
``replay`` runs one again offline with other settings.
"""
