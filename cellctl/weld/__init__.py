"""The weld itself: the cycle of one part's seams (``cycle``) and the monitoring of the arc
against its procedure's bands (``monitoring``)."""
