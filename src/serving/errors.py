"""Error answers of the BentoML APIs as the service's OpenAPI document declares them.

BentoML 1.4 documents every API error as `{"error": str, "detail": str}` but answers a 4xx
`BentoMLException` with a list of one such object (a stray tuple: bentoml/BentoML#4232, fix
open as #5709) and an invalid input with `detail` as a list; and a multipart body that does
not parse (no boundary, a broken part header, a part without a name) reaches its request
parsing as a Starlette exception it does not expect, which becomes a 500. `DocumentedErrors`,
an ASGI middleware on the service, watches the request body as it streams through (nothing is
held) and rewrites those answers: the object, `detail` as text, and a 400 naming what is wrong
with the multipart body instead of the 500. BentoML also answers every server error (5xx) with
"please check the server log", which the person who reads it cannot: an `Unavailable` is
answered with its own reason (`RefusalsAsWarnings`, which sees the exception BentoML logs,
keeps it for the middleware), any other with a plain one. `document_own_errors` adds the 413
of the upload limits and the 409 of a library analysed by another model to the document; `RefusalsAsWarnings` logs each refused request as one line.
Schemathesis tests the result (tests/test_api_schema.py).
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from http import HTTPStatus

from _bentoml_sdk.service import openapi
from bentoml._internal.service.openapi.specification import MediaType, Reference, Response
from bentoml.exceptions import BentoMLException, InvalidArgument
from pydantic import ValidationError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class MultipartCheck:
    """Feeds a multipart body through the parser Starlette uses, keeping no data: `problem` is
    why Starlette will refuse it, or why it must be refused (a `file_fields` part sent as text,
    which BentoML takes for a URL to download), or None."""

    def __init__(self, content_type: bytes, file_fields: frozenset[str]):
        self.file_fields = file_fields
        self.problem: str | None = None
        self.disposition: bytes | None = None
        self.header = b""
        boundary = parse_options_header(content_type)[1].get(b"boundary")
        if not boundary:
            self.problem, self.parser = "multipart body without a boundary", None
            return
        self.parser = MultipartParser(boundary, {
            "on_part_begin": self._part_begins,
            "on_header_field": self._header_field,
            "on_header_end": self._header_end,
            "on_header_value": self._header_value,
            "on_headers_finished": self._headers_finished,
        })

    def feed(self, chunk: bytes) -> None:
        if self.parser is None or self.problem or not chunk:
            return
        try:
            self.parser.write(chunk)
        except MultipartParseError as exc:
            self.problem = f"invalid multipart data ({exc})"

    def _part_begins(self) -> None:
        self.disposition, self.header = None, b""

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self.header += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        if self.header.lower() == b"content-disposition":
            self.disposition = (self.disposition or b"") + data[start:end]

    def _header_end(self) -> None:
        self.header = b""

    def _headers_finished(self) -> None:
        options = parse_options_header(self.disposition or b"")[1]
        name = options.get(b"name", b"").decode(errors="replace")
        if b"name" not in options:
            self.problem = self.problem or 'a multipart part without a Content-Disposition "name"'
        elif name in self.file_fields and b"filename" not in options:
            self.problem = self.problem or f'"{name}" must be an uploaded file (with a file name), not text'


class Unavailable(BentoMLException):
    """A file the service could not analyse now, for a reason on its side (the network failing
    or overloaded): HTTP 503, answered with this reason."""

    error_code = HTTPStatus.SERVICE_UNAVAILABLE


# The reason of the request's `Unavailable`, if one reached BentoML: set by `RefusalsAsWarnings`
# into the list that `DocumentedErrors` placed for the request.
_server_error: ContextVar[list[str]] = ContextVar("server_error")
BENTOML_SERVER_ERROR = "An unexpected error has occurred, please check the server log."
INTERNAL_ERROR = "the server failed to answer because of an internal error; please try again later"


def documented(status: int, body: bytes, multipart_problem: str | None, server_error: str | None = None) -> tuple[int, bytes]:
    """(status, body) of a BentoML API's error answer as the OpenAPI document declares it."""
    if status >= 500 and multipart_problem:
        return 400, json.dumps({"error": multipart_problem}).encode()
    try:
        error = json.loads(body)
    except ValueError:
        error = {"error": body.decode(errors="replace")}
    if isinstance(error, list) and len(error) == 1:
        error = error[0]
    if error == {"error": BENTOML_SERVER_ERROR}:
        error = {"error": server_error or INTERNAL_ERROR}
    if isinstance(error, dict) and "detail" in error and not isinstance(error["detail"], str):
        error["detail"] = json.dumps(error["detail"])
    return status, json.dumps(error).encode()


def route_error(body: bytes) -> bytes:
    """A GET route's error answer as FastAPI documents it: Starlette answers a path that matches
    no route (`/library/nothing`) with the text "Not Found"."""
    try:
        json.loads(body)
        return body
    except ValueError:
        return json.dumps({"detail": body.decode(errors="replace")}).encode()


class DocumentedErrors:
    """ASGI middleware: error answers (status 400 and above) of the APIs (`file_fields`: route ->
    its upload fields) rewritten by `documented`, those of the GET routes under `routes` by
    `route_error`. A multipart body found bad is cut off where it is found (BentoML reads a
    disconnect), so nothing of it is acted on."""

    def __init__(self, app: ASGIApp, file_fields: dict[str, frozenset[str]], routes: str):
        self.app, self.file_fields, self.routes = app, file_fields, routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        api = scope["type"] == "http" and scope["path"] in self.file_fields
        if not (api or scope["type"] == "http" and scope["path"].startswith(self.routes)):
            await self.app(scope, receive, send)
            return
        content_type = dict(scope["headers"]).get(b"content-type", b"")
        multipart = api and content_type.lower().startswith(b"multipart/")
        check = MultipartCheck(content_type, self.file_fields[scope["path"]]) if multipart else None
        held: list[Message] = []
        server_errors: list[str] = []

        async def watched_receive() -> Message:
            message = await receive()
            if check is not None and message["type"] == "http.request":
                check.feed(message.get("body", b""))
                if check.problem:
                    return {"type": "http.disconnect"}
            return message

        async def rewriting_send(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held.append(message)  # sent with the rewritten body
                return
            if not held or message["type"] != "http.response.body":
                await send(message)
                return
            held.append(message)
            if message.get("more_body"):
                return
            start, *parts = held
            status, body = start["status"], b"".join(p.get("body", b"") for p in parts)
            status, body = (documented(status, body, check and check.problem, next(iter(server_errors), None)) if api
                            else (status, route_error(body)))
            headers = [(k, v) for k, v in start["headers"] if k.lower() not in (b"content-length", b"content-type")]
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
            await send({**start, "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        token = _server_error.set(server_errors)
        try:
            await self.app(scope, watched_receive, rewriting_send)
        finally:
            _server_error.reset(token)


class RefusalsAsWarnings(logging.Filter):
    """BentoML logs every refused request (a 4xx: an unreadable upload, an unknown song, an
    invalid field) as an ERROR with its traceback. This filter on its logger turns each into one
    WARNING line with the route, the status and the reason; server errors stay as they are, and
    the reason of an `Unavailable` is kept for `DocumentedErrors` to answer with."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg != "Exception on %s [%s]" or not record.exc_info:
            return True
        error = record.exc_info[1]
        if isinstance(error, Unavailable) and (kept := _server_error.get(None)) is not None:
            kept.append(str(error))
        if isinstance(error, ClientDisconnect):  # DocumentedErrors cut a bad body off, or the client left
            status, reason = 400, "the body ended early (refused as it arrived, or the client left)"
        else:
            status = (error.error_code.value if isinstance(error, BentoMLException)
                      else 400 if isinstance(error, ValidationError) else 500)
            reason = " ".join(str(error).split())
        if status < 500:
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
            record.msg, record.args = "refused %s [%s] (%d): %s", (*record.args, status, reason)
            record.exc_info = record.exc_text = None
        return True


def log_refusals_as_warnings() -> None:
    logging.getLogger("bentoml._internal.server.http_app").addFilter(RefusalsAsWarnings())


class PayloadTooLarge(BentoMLException):
    """A request over the upload limits: too many files, or a file too large."""

    error_code = HTTPStatus.REQUEST_ENTITY_TOO_LARGE


class LibraryConflict(BentoMLException):
    """A library question this service must not answer: the library was analysed by another model."""

    error_code = HTTPStatus.CONFLICT


def document_own_errors() -> None:
    """BentoML 1.4 documents 400, 404 and 500 for every API, from this table in its OpenAPI
    generator; every API here takes uploads, so each also answers 413, and those that may read
    the library 409, with the same body."""
    body = MediaType(schema=Reference(openapi.REF_TEMPLATE.format(model=InvalidArgument.__name__)))
    for error in (PayloadTooLarge, LibraryConflict):
        openapi.error_responses[error.error_code.value] = Response(
            description=error.error_code.phrase, content={"application/json": body})
