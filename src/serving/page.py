"""The web page (`src/serving/web/`), mounted on the service at `/`: `GET /` is the page, its
script and styles are under `/web/`. Everything it needs ships in that folder: no CDN."""

from __future__ import annotations

from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

WEB = Path(__file__).with_name("web")


async def index(_: Request) -> FileResponse:
    return FileResponse(WEB / "index.html")


# Only `/` and `/web/...` match: BentoML tries a mounted app's routes and falls through to its own
# (/classify, /readyz, /docs.json ...) for every other path.
page_routes = Starlette(routes=[Route("/", index), Mount("/web", StaticFiles(directory=WEB), name="web")])
