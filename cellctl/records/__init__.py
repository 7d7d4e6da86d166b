"""The production records: the store and its SQLite and PostgreSQL backends (``store``,
``backends``), the config versions (``versions``), OEE (``oee``) and the shift report
(``report``, ``plots``)."""
