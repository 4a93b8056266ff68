"""The BentoML service: `bentoml serve` from the repository root.

Two services in one deployment:
- `GenreNetwork` holds the network behind one batchable API, so BentoML's adaptive batching
  merges the windows of concurrent requests into shared forward passes;
- `GenreService` is the public face: the web page at `/` (`serving.page`), `POST /classify` and
  `POST /recommend`, and, when the library folder of conf/serving.yaml holds a library analysed
  by the model this service runs, `POST /similar`, `POST /path` (a song path between two library
  songs), `GET /library/` (status, search, a song's audio by id) and recommendations from the
  library (re-read when it is re-indexed, no restart). A library analysed by another model is
  refused with 409, and `GET /library/` says why and what to run. It decodes uploads, computes
  features (in threads), calls the network, and never lets one bad file spoil a request: a file
  that cannot be used gets its own error with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import sys
import tempfile
from http import HTTPStatus
from pathlib import Path
from typing import Annotated

import aiohttp
import bentoml
import numpy as np
import torch
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import FileResponse
from pydantic import BeforeValidator
from bentoml.exceptions import BentoMLException, InvalidArgument, NotFound

from data.probe import AudioDecodeError
from library.queries import LibraryQueries, ModelMismatch, SongNotFound, UnknownTag
from library.ranking import NoFavouritesError, rank
from library.store import Library, LibraryError
from model.artifact import ModelArtifact
from model.precision import load_classifier
from model.predict import SongAnalyzer, WindowOutputs
from model.song import SongPrediction
from serving.config import load_config
from serving.errors import (
    DocumentedErrors,
    LibraryConflict,
    PayloadTooLarge,
    Unavailable,
    document_own_errors,
    log_refusals_as_warnings,
)
from serving.models import NoModel, first_stored
from serving.page import page_routes
from serving.responses import (
    Classification,
    FileError,
    LibraryFailure,
    LibrarySearch,
    LibraryStatus,
    MadeBy,
    PathResponse,
    RecommendResponse,
    RouteError,
    classification,
    library_search,
    recommendation,
    song_path,
)
from serving.songs import SongAnswers
from serving.timeout import replace_bentoml_timeout

# A child of BentoML's logger, so its lines reach `bentoml serve`'s output.
log = logging.getLogger("bentoml.genre_service")

CONFIG = load_config()
try:
    MODEL_TAG = str(first_stored(CONFIG.model_tags).tag)  # the model both services load
except NoModel as exc:
    sys.exit(f"error: {exc}")  # `bentoml serve` prints this one line and stops
TRAFFIC = {"timeout": CONFIG.timeout_seconds}  # for each service and BentoML's client between them
# Where BentoML 1.4 falls short of a trusted service (serving.timeout, serving.errors):
replace_bentoml_timeout()
log_refusals_as_warnings()
document_own_errors()
# A form field sent once arrives as one value, not a list of one.
SongIds = Annotated[list[int], BeforeValidator(lambda value: value if isinstance(value, list) else [value])]
# GET routes (BentoML's own APIs are POST), mounted on the public service at /library.
library_routes = FastAPI(title="genre-recognition library")
LIBRARY_ROUTES = "/library"


def library_id(library: LibraryQueries, song_id: int | None, server_id: str | None, end: str) -> int:
    """A library song named by its library id or by its media server's id (exactly one of them);
    `SongNotFound` for an unknown one."""
    if (song_id is None) == (server_id is None):
        field = "song_id or server_id" if end == "song" else f"{end}_id or {end}_server_id"
        raise InvalidArgument(f"give one of {field}")
    return song_id if song_id is not None else library.server_song(server_id).id


def uploaded_name(path: Path) -> str:
    """The client's file name: BentoML stores an upload as tempfile's `tmp` + 8 random
    characters + the client's name."""
    prefix = len(tempfile.gettempprefix()) + 8
    name = path.name
    return name[prefix:] if name.startswith(tempfile.gettempprefix()) and len(name) > prefix else name


@bentoml.service(name="genre-network", traffic=TRAFFIC)
class GenreNetwork:
    model = bentoml.models.BentoModel(MODEL_TAG)

    def __init__(self) -> None:
        self.classifier, how = load_classifier(
            ModelArtifact.load(self.model.path), CONFIG.backend, CONFIG.precision, CONFIG.network_batch
        )
        log.info("%s: %s", self.model.tag, how)

    # BentoML's dispatcher refuses (HTTP 503) windows it expects to wait longer than max_latency_ms:
    # by default the request's own time limit, so it refuses nothing the service would answer in time.
    @bentoml.api(batchable=True, batch_dim=(0, 0), max_batch_size=CONFIG.max_batch_size, max_latency_ms=(
        round(CONFIG.timeout_seconds * 1000) if CONFIG.max_latency_ms is None else CONFIG.max_latency_ms))
    def forward(self, windows: np.ndarray) -> np.ndarray:
        """(n, 1, n_mels, frames) log-mel windows -> each window's outputs, as one structured
        array (`WindowOutputs.records`: fields probabilities and embeddings)."""
        return self.classifier.forward(windows).records()


@bentoml.asgi_app(page_routes, path="/")
@bentoml.asgi_app(library_routes, path=LIBRARY_ROUTES)
@bentoml.service(name="genre-recognition", traffic=TRAFFIC)
class GenreService:
    model = bentoml.models.BentoModel(MODEL_TAG)
    network = bentoml.depends(GenreNetwork)

    def __init__(self) -> None:
        # Decoding and features are light; one thread here leaves the cores to the network in
        # GenreNetwork's process instead of oversubscribing them.
        torch.set_num_threads(1)
        artifact = ModelArtifact.load(self.model.path)
        self.analyzer = SongAnalyzer(artifact)
        self.made_by = MadeBy(model=MODEL_TAG, caveat=artifact.caveat)
        self.queries: LibraryQueries | None = None
        self.library_problem: str | None = None  # why the library is not answered from

    def library(self) -> LibraryQueries | None:
        """The library's queries, opened once it exists and refreshed when it was re-indexed;
        None while there is none, or it was analysed by another model (`library_problem` says)."""
        if self.queries is None and (Path(CONFIG.library.path) / "library.db").is_file():
            try:
                self.queries = LibraryQueries(Library(CONFIG.library.path), CONFIG.genre_weight, CONFIG.library,
                                              str(self.model.tag))
                self.library_problem = None
            except (ModelMismatch, LibraryError) as exc:
                self.library_problem = str(exc)
        if self.queries is not None:
            self.queries.refresh()
        return self.queries

    def required_library(self) -> LibraryQueries:
        found = self.library()
        if self.library_problem:
            raise LibraryConflict(self.library_problem)
        if found is None or not found.songs:
            raise NotFound(f"no indexed library in {CONFIG.library.path}: run `python -m serving index MUSIC_DIR` first")
        return found

    def answers(self) -> SongAnswers:
        return SongAnswers(self.library(), self._predict)

    @bentoml.api
    async def classify(self, audio: Path) -> Classification:
        """One song -> its top genre, genre distribution, per-window distributions and duration."""
        return classification(await self._predict(audio), self.made_by)

    @bentoml.api
    async def recommend(
        self, favorites: list[Path] = [], candidates: list[Path] = [], favorite_ids: SongIds = [],  # noqa: B006
        candidate_ids: SongIds = [], top_k: int = CONFIG.top_k, genre: str | None = None,  # noqa: B006
    ) -> RecommendResponse:
        """Rank the candidates by how well they match the favourites' genres and sound. Favourites
        and candidates are uploads and/or library song ids; without candidates, the library's
        songs are ranked."""
        if len(favorites) + len(candidates) > CONFIG.max_files:
            raise PayloadTooLarge(
                f"too many files: {len(favorites) + len(candidates)}, the limit is {CONFIG.max_files} per request"
            )
        if top_k < 1:
            raise InvalidArgument("top_k must be at least 1")
        uses_library = bool(favorite_ids or candidate_ids or not candidates)
        library = self.required_library() if uses_library else None
        favourite_refs, candidate_refs = [*favorites, *favorite_ids], [*candidates, *candidate_ids]
        results = await self.answers().answer_each([*favourite_refs, *candidate_refs])
        errors, found = [], []
        for ref, result in zip([*favourite_refs, *candidate_refs], results):
            if isinstance(result, SongNotFound):
                raise NotFound(str(result))
            if isinstance(result, BentoMLException):
                errors.append(FileError(file=uploaded_name(ref), error=str(result), status=result.error_code.value))
            elif isinstance(result, BaseException):
                raise result
            found.append(result)
        favourite_songs = [r for r in found[: len(favourite_refs)] if isinstance(r, SongPrediction)]
        candidate_songs = [r for r in found[len(favourite_refs):] if isinstance(r, SongPrediction)]
        try:
            if library is not None and not candidate_refs:
                return recommendation(library.recommend(favourite_songs, top_k, genre), errors, self.made_by)
            return recommendation(rank(favourite_songs, candidate_songs, top_k, CONFIG.genre_weight), errors,
                                  self.made_by)
        except NoFavouritesError as exc:
            details = "; ".join(e.error for e in errors)
            raise InvalidArgument(f"{exc}" + (f" ({details})" if details else "")) from None

    @bentoml.api
    async def similar(self, audio: list[Path] = [], song_id: int | None = None, server_id: str | None = None,  # noqa: B006
                      top_k: int = CONFIG.top_k, genre: str | None = None) -> RecommendResponse:
        """The library's songs closest to a song: one upload (`audio`), a library song by id, or,
        in a library indexed from a Subsonic server, a song by the server's id (`server_id`)."""
        library = self.required_library()
        if len(audio) + (song_id is not None) + (server_id is not None) != 1:
            raise InvalidArgument("give one of: an audio upload, a song_id, a server_id")
        try:
            song = await self.answers().answer(audio[0] if audio else library_id(library, song_id, server_id, "song"))
        except SongNotFound as exc:
            raise NotFound(str(exc)) from None
        return recommendation(library.recommend([song], top_k, genre), [], self.made_by)

    @bentoml.api
    async def path(self, from_id: int | None = None, to_id: int | None = None, from_server_id: str | None = None,
                   to_server_id: str | None = None, steps: int = CONFIG.top_k) -> PathResponse:
        """`steps` library songs that walk from song `from_id` (first) to song `to_id` (last), each
        step the unused song nearest to the next point on the straight line between their vectors;
        in a library indexed from a Subsonic server, the ends may be named by the server's ids
        (`from_server_id`, `to_server_id`) instead. 404 for an unknown song, 400 for an end named
        twice or not at all, steps under 2, over `max_path_steps` or over what the library holds."""
        library = self.required_library()
        if steps > CONFIG.max_path_steps:
            raise InvalidArgument(f"steps: {steps}, the limit is {CONFIG.max_path_steps} songs per path")
        try:
            walked = library.walk(library_id(library, from_id, from_server_id, "from"),
                                  library_id(library, to_id, to_server_id, "to"), steps)
        except SongNotFound as exc:
            raise NotFound(str(exc)) from None
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None
        return song_path(walked, library.labels, library.tag_labels, self.made_by)

    @library_routes.get("/", response_model=LibraryStatus)
    def library_status(self) -> LibraryStatus:
        """How many songs the library holds, what could not be analysed and why, with which model, when."""
        library = self.library()
        if library is None:
            return LibraryStatus(songs=0, failures=[], model=None, indexed_at=None, answering=False,
                                 problem=self.library_problem)
        store = library.library
        failures = [LibraryFailure(file=Path(path).name, reason=reason) for path, (_, _, reason) in store.failures().items()]
        return LibraryStatus(songs=len(library.songs), failures=failures, model=store.model(), caveat=store.caveat(),
                             indexed_at=store.meta("indexed_at"), tags=library.tag_labels, answering=True)

    # async like the APIs: the library is read on the event loop's thread only, never two at once.
    @library_routes.get("/songs", response_model=LibrarySearch,
                        responses={400: {"description": "a tag the library's model does not have", "model": RouteError}})
    async def library_search(self, q: str = "", offset: Annotated[int, Query(ge=0)] = 0,
                             tag: Annotated[list[str], Query()] = []) -> LibrarySearch:  # noqa: B006
        """Library songs whose title, artist, album or file name hold every word of `q` and whose
        top tags show every `tag` (repeat it: `?tag=80s&tag=mellow`; a model with tags): one page
        of them (`search_results` in conf/serving.yaml), from the `offset`-th on."""
        library = self.library()
        if library is None:
            return LibrarySearch(total=0, offset=offset, songs=[])
        try:
            total, songs = library.search(q, CONFIG.library.search_results, offset, tag)
        except UnknownTag as exc:
            raise HTTPException(400, str(exc)) from None
        return library_search(total, offset, songs, library.labels, library.tag_labels)

    # The id is a query parameter, not part of the path: BentoML keeps request metrics per path for
    # the life of the process, so one path per song would grow memory with every song played.
    @library_routes.get("/audio", response_class=FileResponse,
                        responses={404: {"description": "no such song, its file is gone, or it is a media server's",
                                              "model": RouteError}})
    async def library_audio(self, song_id: int) -> FileResponse:
        """A library song's audio file, found by its id alone: the client never names a path."""
        library = self.library()
        song = library.songs.get(song_id) if library is not None else None
        if song is None:
            raise HTTPException(404, f"no song {song_id} in the library")
        if song.server_id is not None:  # indexed from a media server: its audio is the server's to give
            raise HTTPException(404, f"song {song_id} is on {library.library.server()['url']}: play it in that server's apps")
        if not Path(song.path).is_file():
            raise HTTPException(404, f"song {song_id}'s file ({song.name}) is gone from the music folder: re-index the library")
        return FileResponse(song.path, media_type=mimetypes.guess_type(song.path)[0] or "application/octet-stream")

    async def _predict(self, path: Path) -> SongPrediction:
        """Checks, decoding and features in a thread; the network through the batched service, in
        one call: its dispatcher cuts the song into batches of `max_batch_size` windows and runs
        them back to back. (Calls of at most that many, one at a time, so that concurrent songs
        take turns, doubled a lone long song's latency: each call waits for its round trip and
        for the dispatcher to gather more.)"""
        name = uploaded_name(path)
        size_mb = path.stat().st_size / 2**20
        if size_mb > CONFIG.max_upload_mb:
            raise PayloadTooLarge(f"{name}: {size_mb:.1f} MB, the limit is {CONFIG.max_upload_mb:g} MB per file")
        try:
            song = await asyncio.to_thread(self.analyzer.prepare, path, CONFIG.max_duration_seconds)
        except AudioDecodeError as exc:
            raise InvalidArgument(f"{name}: {exc.reason}") from None
        return self.analyzer.summarize(name, song, await self._forward(name, song.windows))

    async def _forward(self, name: str, windows: np.ndarray) -> WindowOutputs:
        """The network's outputs for `windows` of the song `name`; its failure (a BentoML error
        answer, or no answer) as `Unavailable`, whose reason reaches the client."""
        try:
            try:
                records = await self.network.to_async.forward(windows)
            except aiohttp.ClientConnectionError:  # BentoML's client reused a closing connection (bentoml/BentoML#4238): once more
                records = await self.network.to_async.forward(windows)
        except (BentoMLException, aiohttp.ClientError) as exc:
            log.error("%s: the network failed: %s", name, exc)
            busy = isinstance(exc, BentoMLException) and exc.error_code == HTTPStatus.SERVICE_UNAVAILABLE
            raise Unavailable(f"{name}: not analysed, the genre network is {'overloaded' if busy else 'failing'}; "
                              "please try again in a few minutes") from None
        return WindowOutputs.from_records(np.asarray(records))


# Error answers as /docs.json declares them (BentoML 1.4 answers some otherwise: serving.errors).
GenreService.add_asgi_middleware(DocumentedErrors, routes=f"{LIBRARY_ROUTES}/", file_fields={
    api.route: frozenset(api.input_spec.multipart_fields) for api in GenreService.apis.values()})
