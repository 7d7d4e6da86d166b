"""Client side of the Cell object: calling its methods and reading its variables (asyncua).

Used by the HMI and by tests. ``call_method`` returns the status *and* the server's message even
when the call is refused (asyncua's ``Node.call_method`` raises on a Bad status and drops it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asyncua import Client, ua

from cellctl.plant.opcua.nodes import NAMESPACE_URI, OBJECT, VARIABLES


@dataclass(frozen=True)
class MethodResult:
    status: str  # e.g. "Good", "BadInvalidState", "BadUserAccessDenied"
    message: str

    @property
    def ok(self) -> bool:
        return self.status == "Good"


async def cell_namespace(client: Client) -> int:
    return await client.get_namespace_index(NAMESPACE_URI)


async def call_method(client: Client, namespace: int, method: str, *args: str) -> MethodResult:
    request = ua.CallMethodRequest()
    request.ObjectId = ua.NodeId(OBJECT, namespace)
    request.MethodId = ua.NodeId(f"{OBJECT}.{method}", namespace)
    request.InputArguments = [ua.Variant(a, ua.VariantType.String) for a in args]
    (result,) = await client.uaclient.call([request])
    message = ""
    if result.OutputArguments:
        message = str(result.OutputArguments[0].Value)
    return MethodResult(result.StatusCode.name, message)


async def read_cell(client: Client, namespace: int) -> dict[str, Any]:
    """Every variable of the Cell object in one Read request, by path (e.g. "Weld.CurrentA")."""
    nodes = [client.get_node(ua.NodeId(f"{OBJECT}.{v.path}", namespace)) for v in VARIABLES]
    values = await client.read_values(nodes)
    return {spec.path: value for spec, value in zip(VARIABLES, values, strict=True)}
