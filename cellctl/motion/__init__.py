"""The robot's moves as the cell makes them, written once (``moves``): a pose from a seam's
torch angles, move and wait until arrived, at rest; and polling a device's status with one
lost answer forgiven. Seam finding, the bead scan, the weld cycle and the controller's own
moves all go through here."""
