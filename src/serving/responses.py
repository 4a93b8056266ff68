"""What `classify`, `recommend` and the library's questions answer, as types: the same for HTTP (BentoML writes them into
the OpenAPI document at /docs.json) and for the CLI's --json."""

from __future__ import annotations

from pydantic import BaseModel, Field

from library.queries import PathStep
from library.ranking import Ranking
from library.store import Song
from model.song import SongPrediction, genre_shares, tag_shares

Distribution = dict[str, float]
TAGS = Field(default_factory=dict, description="the song's top tags, likeliest first, each with its probability (a model "
                                                "with tags, such as MSD-musicnn: independent, they do not sum to 1); "
                                                "empty for a model with genres only")


class WindowGenres(BaseModel):
    start: float = Field(description="seconds from the start of the song")
    end: float = Field(description="seconds from the start of the song")
    probabilities: Distribution = Field(description="genre distribution of this window")


class SongGenres(BaseModel):
    file: str = Field(description="the file name the client sent, or the library song's file name")
    id: int | None = Field(None, description="the library's id of the song, when it is a library song")
    genre: str = Field(description="the most likely genre")
    probabilities: Distribution = Field(description="genre distribution of the whole song, summing to 1 (a tagger's "
                                                    "labels are tags: independent probabilities)")
    tags: Distribution = TAGS
    duration: float = Field(description="seconds of audio")


class MadeBy(BaseModel):
    """Which model made an answer, and what a person should know about its answers."""

    model: str = Field(description="the model (tag:version) that made this answer")
    caveat: str | None = Field(None, description="what to know about that model's answers (a model trained on "
                                                 "generated data says so); null when nothing")


class Classification(SongGenres, MadeBy):
    windows: list[WindowGenres] = Field(description="the distribution of each window the network saw, in order")


class FileError(BaseModel):
    file: str
    error: str = Field(description="the file name and why it could not be used")
    status: int | None = Field(None, description="the HTTP status this file alone would have got")


class Tagged(BaseModel):
    """A library song's names from its file's tags: absent for uploads and untagged files."""

    title: str | None = Field(None, description="from the file's tags")
    artist: str | None = Field(None, description="from the file's tags")


class Recommendation(Tagged):
    file: str
    id: int | None = Field(None, description="the library's id of the song, when it is a library song")
    genre: str
    score: float = Field(description="genre_weight x label match (genres; tags for a model with tags) + "
                                     "(1 - genre_weight) x sound match, in [0, 1]")
    reason: str
    probabilities: Distribution
    tags: Distribution = TAGS


class RecommendResponse(MadeBy):
    favorite_genre: str = Field(description="the most frequent top genre among the favourites")
    taste_profile: Distribution = Field(description="the favourites' mean genre distribution")
    taste_tags: Distribution = Field(default_factory=dict, description="the favourites' likeliest tags on average (a "
                                                                      "model with tags); empty for a model with genres only")
    favorites: list[SongGenres]
    recommendations: list[Recommendation] = Field(description="best first")
    errors: list[FileError] = Field(description="files that could not be used; the others were answered")


class LibraryFailure(BaseModel):
    file: str
    reason: str


class LibraryStatus(BaseModel):
    songs: int = Field(description="songs analysed and answerable")
    failures: list[LibraryFailure] = Field(description="files that could not be analysed, with the reason")
    model: str | None = Field(description="the model (tag:version) the library was analysed with")
    caveat: str | None = Field(None, description="what to know about that model's answers; null when nothing")
    indexed_at: float | None = Field(description="when it was last indexed (Unix time)")
    tags: list[str] = Field(default_factory=list, description="the tags its model answers, to search by "
                                                              "(GET /library/songs?tag=...); empty for a model with genres only")
    answering: bool = Field(description="whether this service answers from the library (its model analysed it)")
    problem: str | None = Field(None, description="why the service does not answer from the library, and what to run")


class LibrarySong(SongGenres, Tagged):
    album: str | None = Field(None, description="from the file's tags")
    file_genre: str | None = Field(None, description="the genre field of the file itself (written by `python -m serving "
                                                     "tag --write`, or by its owner), as last read; none where unknown")


class PathSong(LibrarySong):
    score: float = Field(description="how near the song is to its point on the way, at t of it (0 at the first song, "
                                     "1 at the last): (1 - t) x its score against the first song + t x its score "
                                     "against the last, scores as `recommend`'s, in [0, 1]; 1 for both ends")


class PathResponse(MadeBy):
    """A song path (`POST /path`, `python -m serving path --json`)."""

    songs: list[PathSong] = Field(description="the first song first, the last song last, each step the unused song "
                                              "nearest to the next point on the straight line between their vectors; "
                                              "no song twice, nor an exact copy of one")


class RouteError(BaseModel):
    """A GET route's refusal, 400 or 404 (FastAPI's HTTPException body)."""

    detail: str


class LibrarySearch(BaseModel):
    total: int = Field(description="songs matching the query; `songs` holds one page of them")
    offset: int = Field(0, description="how many matching songs come before `songs[0]`")
    songs: list[LibrarySong] = Field(description='ordered by "artist - title", or file name where untagged')


class ClassifyResponse(MadeBy):
    """The CLI's `classify --json`: every song given, and the files that could not be used."""

    songs: list[Classification]
    errors: list[FileError]


def song_genres(song: SongPrediction) -> SongGenres:
    return SongGenres(file=song.name, id=song.song_id, genre=song.genre, probabilities=song.distribution(),
                      tags=song.top_tags(), duration=round(song.duration, 3))


def classification(song: SongPrediction, made_by: MadeBy) -> Classification:
    windows = [WindowGenres(start=w.start, end=w.end, probabilities=w.probabilities) for w in song.windows]
    return Classification(**song_genres(song).model_dump(), **made_by.model_dump(), windows=windows)


def recommendation(ranking: Ranking, errors: list[FileError], made_by: MadeBy) -> RecommendResponse:
    """A ranking (`library.ranking.rank`) with the files that could not be used."""
    first = ranking.favourites[0]
    return RecommendResponse(
        **made_by.model_dump(),
        favorite_genre=ranking.favourite_genre,
        taste_profile=genre_shares(first.labels, ranking.profile),
        taste_tags=tag_shares(first.tag_labels, ranking.tag_profile),
        favorites=[song_genres(s) for s in ranking.favourites],
        recommendations=[Recommendation(file=m.song.name, id=m.song.song_id, title=m.song.title, artist=m.song.artist,
                                        genre=m.song.genre, score=round(m.score, 6), reason=m.reason,
                                        probabilities=m.song.distribution(), tags=m.song.top_tags())
                         for m in ranking.matches],
        errors=errors,
    )


def library_song(song: Song, labels: list[str], tag_labels: list[str]) -> LibrarySong:
    return LibrarySong(id=song.id, file=song.name, title=song.title, artist=song.artist, album=song.album,
                       file_genre=song.file_genre, genre=song.genre, probabilities=genre_shares(labels, song.probabilities),
                       tags=tag_shares(tag_labels, song.tags), duration=round(song.duration, 3))


def library_search(total: int, offset: int, songs: list[Song], labels: list[str], tag_labels: list[str]) -> LibrarySearch:
    return LibrarySearch(total=total, offset=offset, songs=[library_song(s, labels, tag_labels) for s in songs])


def song_path(steps: list[PathStep], labels: list[str], tag_labels: list[str], made_by: MadeBy) -> PathResponse:
    return PathResponse(**made_by.model_dump(), songs=[
        PathSong(**library_song(step.song, labels, tag_labels).model_dump(), score=round(step.score, 6)) for step in steps])
