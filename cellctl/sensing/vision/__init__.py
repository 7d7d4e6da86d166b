"""The controller's laser-line vision: stripe extraction, triangulation, joint detection.

``stripe`` finds the laser line's sub-pixel row in every image column; ``calibration``
turns (column, row) into millimetres in the sensor frame (camera intrinsics, camera pose and
laser plane) and computes that calibration from frames of a chessboard target; ``joint``
finds the joint's root point, gap and mismatch in the profile, or says there is none it
trusts; ``pipeline`` puts them together for one frame.
"""
