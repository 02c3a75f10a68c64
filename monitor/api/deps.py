"""Dependencies shared by the routers."""

from __future__ import annotations

from fastapi import Request
from starlette.websockets import WebSocket

from monitor.runtime import Runtime


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def ws_runtime(websocket: WebSocket) -> Runtime:
    rt: Runtime = websocket.app.state.runtime
    return rt
