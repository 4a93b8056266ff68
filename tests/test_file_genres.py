"""Genres into the files (`python -m serving tag`): a dry run changes no byte; --write puts each
song's top genre into the file's own genre field in every format, read back with mutagen, the
decoded audio identical; genres already in a file are kept without --overwrite; a file that
cannot be written is reported and the others are written; the next index analyses nothing
again; --undo puts the old genres back; the page shows the written genre beside the analysed one."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import av
import mutagen
import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import expect

from conftest import bentoml_server, index, run_module
from data.audio import load_audio
from data.file_tags import read_file_tags, write_genre
from data.synthetic import generate
from serving.config import load_config

# One song per format the genre field is written in, and how soundfile writes it (m4a: PyAV).
FORMATS = {".mp3": ("MP3", "MPEG_LAYER_III"), ".ogg": ("OGG", "VORBIS"), ".opus": ("OGG", "OPUS"),
           ".flac": ("FLAC", None), ".wav": ("WAV", None), ".aiff": ("AIFF", None), ".m4a": None}
HAND_SET = ".flac"  # this one already has a genre, set by its owner


def encode(wav: Path, suffix: str) -> Path:
    data, rate = sf.read(wav, dtype="float32")
    target = wav.with_suffix(suffix)
    if FORMATS[suffix] is None:
        with av.open(str(target), "w") as out:
            stream = out.add_stream("aac", rate=rate)
            frame = av.AudioFrame.from_ndarray(data[None], format="fltp", layout="mono")
            frame.sample_rate = rate
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                out.mux(packet)
    else:
        kind, subtype = FORMATS[suffix]
        sf.write(target, data, 48000 if suffix == ".opus" else rate, format=kind, subtype=subtype)
    return target


@pytest.fixture(scope="module")
def tagged(tmp_path_factory, packaged) -> tuple[Path, Path]:
    """(music, library): a song of each format, one with a genre set by hand, indexed."""
    music = tmp_path_factory.mktemp("genre-music")
    wavs = generate(tmp_path_factory.mktemp("genre-sources"), clips_per_genre=1, seconds=8.0, seed=9)
    for wav, suffix in zip(wavs, FORMATS):
        encode(wav, suffix).rename(music / f"{wav.stem}{suffix}")
    write_genre(next(music.glob(f"*{HAND_SET}")), "Ambient")
    library = tmp_path_factory.mktemp("genre-library")
    index(music, library, packaged)
    return music, library


def files(music: Path) -> dict[str, bytes]:
    return {p.name: hashlib.sha256(p.read_bytes()).digest() for p in sorted(music.iterdir())}


def top_genres(library: Path, env: dict) -> dict[str, str]:
    """Each song's top genre as the library answers it, spelt as files get it."""
    done = run_module("serving", "--library", str(library), "search", "--json", cwd=library, env=env)
    names = load_config().genre_names
    return {song["file"]: names.get(song["genre"], song["genre"]) for song in json.loads(done.stdout)["songs"]}


def tag(library: Path, env: dict, *args: str):
    return run_module("serving", "--library", str(library), "tag", *args, cwd=library, env=env)


def set_read_only(path: Path, read_only: bool) -> None:
    """Root writes through permission bits: the immutable attribute stops it too."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i" if read_only else "-i", str(path)], check=True)
    else:
        path.chmod(0o444 if read_only else 0o644)


def test_a_dry_run_changes_no_byte_and_says_what_would_change(tagged, packaged):
    music, library = tagged
    before = files(music)
    done = tag(library, packaged)
    assert files(music) == before
    assert f"would write {len(FORMATS) - 1} genres" in done.stdout
    assert "kept 1 genre the files already had" in done.stdout and "Ambient" in done.stdout


def test_write_overwrite_and_undo_touch_the_genre_field_only(tagged, packaged):
    music, library = tagged
    expected = top_genres(library, packaged)
    audio = {p.name: load_audio(p, 22050).numpy() for p in music.iterdir()}
    read_only = next(music.glob("*.ogg"))
    set_read_only(read_only, True)
    try:
        done = tag(library, packaged, "--write")
    finally:
        set_read_only(read_only, False)
    assert f"1 file could not be written:\n  {read_only}:" in done.stdout
    for path in music.iterdir():
        genre = read_file_tags(path).genre
        if path.suffix == HAND_SET:
            assert genre == "Ambient"  # set by hand: kept
        elif path == read_only:
            assert genre is None
        else:
            assert genre == expected[path.name], path.suffix
            assert mutagen.File(path) is not None
        assert np.array_equal(load_audio(path, 22050).numpy(), audio[path.name]), f"{path.suffix}: the audio changed"

    again = index(music, library, packaged)
    assert "analysed 0," in again.stdout  # only the tags moved: nothing re-analysed

    tag(library, packaged, "--write", "--overwrite")
    assert {p.name: read_file_tags(p).genre for p in music.iterdir()} == expected

    undone = tag(library, packaged, "--undo")
    assert f"put back {len(FORMATS)} genres" in undone.stdout
    for path in music.iterdir():
        assert read_file_tags(path).genre == ("Ambient" if path.suffix == HAND_SET else None)
        assert np.array_equal(load_audio(path, 22050).numpy(), audio[path.name])


def test_the_library_view_shows_the_written_genre_beside_the_analysed_one(tagged, packaged, browser, tmp_path):
    music, library = tagged
    tag(library, packaged, "--write", "--overwrite")
    expected = top_genres(library, packaged)
    with bentoml_server(packaged, tmp_path, f"library:\n  path: {library}\n") as server:
        songs = server.get("/library/songs").json()["songs"]
        assert {song["file"]: song["file_genre"] for song in songs} == expected
        page = browser.new_page(base_url=str(server.base_url))
        page.goto("/")
        page.get_by_role("button", name="Library").click()
        for song in songs:
            expect(page.locator("#library-results > li", has_text=song["file"])).to_contain_text(
                f"{song['genre']} (written genre: {song['file_genre']})", timeout=60_000)
        page.screenshot(path=tmp_path / "written-genres.png", full_page=True)
        page.close()
