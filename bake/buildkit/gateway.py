"""A client-side build through BuildKit's gateway API, for results that must carry metadata.

A plain solve of a definition gives the exporters a result without metadata. BuildKit v0.32.2's
image exporter takes the image config as an exporter attribute instead (``exporters.py``), but
older daemons do not: dockerd 20.10's ``moby`` exporter reads it only from the result's metadata.
So the solve is made the way buildx's client-side builds are made:

1. ``Control.Solve`` with no definition and no frontend: the daemon waits for the client to build;
2. ``LLBBridge.Solve`` of the definition, tagged with that solve's ref (gRPC metadata
   ``buildkit-controlapi-buildid``), which answers a result ref;
3. ``LLBBridge.Return`` of that ref with the metadata (``containerimage.config``); the daemon then
   exports it and step 1 answers. A failure of step 2 is returned as the build's error, so
   step 1 always ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import grpc
import grpc.aio

from bake.buildkit.control import Control, SolveFailed
from bake.buildkit.proto import control_pb2 as api
from bake.buildkit.proto import gateway_pb2 as gw
from bake.errors import ungrouped

_BRIDGE = "/moby.buildkit.v1.frontend.LLBBridge/"
_BUILD_ID = "buildkit-controlapi-buildid"
_UNKNOWN = 2  # grpc codes.Unknown


async def solve_returning(control: Control, request: api.SolveRequest,
                          metadata: Mapping[str, bytes]) -> api.SolveResponse:
    """Solve ``request`` (its definition, exporters and session) so that the result carries ``metadata``."""
    bare = api.SolveRequest()
    bare.CopyFrom(request)
    bare.ClearField("Definition")
    tags = ((_BUILD_ID, request.Ref),)
    answer: dict[str, api.SolveResponse] = {}

    async def build() -> None:
        answer["response"] = await control.solve(bare)

    with ungrouped(prefer=SolveFailed):  # the build's own failure first: it names the step
        async with anyio.create_task_group() as tg:
            tg.start_soon(build)
            try:
                solved = await _call(control, "Solve", gw.SolveResponse)(
                    gw.SolveRequest(Definition=request.Definition, allowResultReturn=True, allowResultArrayRef=True),
                    metadata=tags)
            except grpc.aio.AioRpcError as err:
                reason = err.details() or str(err.code())
                await _return(control, gw.ReturnRequest(error=gw.Status(code=_UNKNOWN, message=reason)), tags)
                raise SolveFailed(reason, control.builder, control.node) from None
            result = solved.result
            ref = result.ref.id if result.HasField("ref") else (result.refDeprecated or solved.ref)
            await _return(control, gw.ReturnRequest(result=gw.Result(ref=gw.Ref(id=ref), metadata=dict(metadata))),
                          tags)
    return answer["response"]


async def _return(control: Control, request: gw.ReturnRequest, tags: tuple[tuple[str, str], ...]) -> None:
    try:
        await _call(control, "Return", gw.ReturnResponse)(request, metadata=tags)
    except grpc.aio.AioRpcError as err:
        raise control.error("returning the build's result", err) from None


def _call(control: Control, method: str, response: Any) -> grpc.aio.UnaryUnaryMultiCallable[Any, Any]:
    return control.channel.unary_unary(_BRIDGE + method, request_serializer=_serialize,
                                       response_deserializer=response.FromString)


def _serialize(message: Any) -> bytes:
    data: bytes = message.SerializeToString(deterministic=True)
    return data
