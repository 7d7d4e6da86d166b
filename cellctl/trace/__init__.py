"""Traceability: a part's serial number, the welder logged in at the cell, the consumable
lots in use, and what of them goes on each part's record (``station``); the rules on their
own (``identity``)."""
