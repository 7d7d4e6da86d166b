"""The controller process's cell: its pieces, each with one owner, behind the ``Controller``
facade, and the one function that builds it from config (``wiring``)."""
