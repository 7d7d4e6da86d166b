"""The ground truth: the true part (``part``), the bead laid where the arc burned (``bead``),
and the truth file the controller's tools may read (``file``)."""
