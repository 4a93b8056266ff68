"""The request time limit of both services, in place of BentoML 1.4's TimeoutMiddleware.

BentoML's middleware schedules a timer per request and never cancels it, so every answered
request stays referenced by the event loop for the whole limit (600 s here): the timer holds
the request's context, its tracing span and all. Memory grew with the request rate times the
limit: 4-5 kB per request in the API process, 18 kB per classify. This one keeps BentoML's
behaviour (504 when no answer has started within the limit; an answer once started is sent
to its end, however long) and cancels its timer when the answer starts or the request ends.
"""

from __future__ import annotations

import asyncio

from bentoml._internal.server.http import traffic
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RequestTimeout:
    """ASGI middleware: a request whose answer has not started within `timeout` seconds is
    cancelled and answered 504."""

    def __init__(self, app: ASGIApp, timeout: float):
        self.app, self.timeout = app, timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        # The send wrapper drops the timer once used: the request object outlives the request
        # (uvicorn resumes reading a connection in the request's context, so the next request on
        # it inherits a reference), and a timer it still held would keep this task and its
        # context, and through it the previous request: a chain as long as the connection lives.
        timer: list[asyncio.Timeout] = []

        async def timed_send(message: Message) -> None:
            if timer:
                timer.pop().reschedule(None)  # the answer has started: no limit on sending it
            await send(message)

        try:
            async with asyncio.timeout(self.timeout) as limit:
                timer.append(limit)
                await self.app(scope, receive, timed_send)
        except TimeoutError:
            if not limit.expired():  # raised by the app itself
                raise
            await JSONResponse({"error": f"Not able to process the request in {self.timeout:g} seconds"},
                               status_code=504)(scope, receive, send)
        finally:
            timer.clear()


def replace_bentoml_timeout() -> None:
    """BentoML 1.4 looks the middleware up in this module each time it builds a service's app."""
    traffic.TimeoutMiddleware = RequestTimeout
