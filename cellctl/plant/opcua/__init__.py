"""The cell over OPC UA: the server (``server``), its address space as data (``nodes``), the
client the HMI uses (``client``) and the users and their roles (``users``)."""
