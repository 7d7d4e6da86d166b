"""ABB's EGM protocol definition (``egm.proto``, unchanged) and the module protoc made of it.

``egm_pb2`` is generated and committed, so that installing the project needs no protocol
compiler: only the ``protobuf`` runtime, already a dependency. It was made by protoc 35.1
(grpcio-tools 1.85.1), whose generated code the pinned runtime (protobuf 7.36) accepts: same
major version, runtime not older than the generator. ``make egm-proto`` makes it again after a
change of ``egm.proto`` or of the runtime's pin. Read it through ``drivers.codecs.abb_egm`` only.
See LICENSE in this folder for where ``egm.proto`` comes from and under which terms.
"""
