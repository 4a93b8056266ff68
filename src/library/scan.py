"""What changed in a music folder since the library last saw it: new, changed, moved, touched,
removed. Files are compared by size and modification time; only those that differ are hashed."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from data.probe import AUDIO_SUFFIXES  # what libsndfile or FFmpeg decode; other files are ignored
from data.threads import ordered_map
from library.store import Library


@dataclass(frozen=True)
class FileState:
    path: str  # absolute
    size: int
    mtime_ns: int


@dataclass
class Plan:
    analyse: list[tuple[FileState, str]] = field(default_factory=list)  # with content hashes
    moves: list[tuple[str, str, int, int]] = field(default_factory=list)  # old, new, size, mtime
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed_before: int = 0  # unchanged files that could not be analysed last time


def scan(folder: str | Path) -> list[FileState]:
    """Every audio file under `folder` (recursively, links followed), sorted by path."""
    found = []
    for root, _, names in os.walk(Path(folder).resolve(), followlinks=True):
        for name in names:
            path = Path(root, name)
            if path.suffix.lower() in AUDIO_SUFFIXES:
                stat = path.stat()
                found.append(FileState(str(path), stat.st_size, stat.st_mtime_ns))
    return sorted(found, key=lambda f: f.path)


def content_hash(path: str) -> str:
    """sha256 of the file's bytes: what recognises a moved or renamed song."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def plan(library: Library, files: list[FileState], threads: int) -> Plan:
    """What to do with each file: leave, analyse, move, or remove."""
    known, failures = library.files(), library.failures()
    hashes = dict(library.db.execute("SELECT path, content_hash FROM songs"))
    present = {f.path for f in files}
    result, candidates = Plan(), []
    for f in files:
        if known.get(f.path) == (f.size, f.mtime_ns):
            result.unchanged += 1
        elif f.path not in known and failures.get(f.path, (None, None))[:2] == (f.size, f.mtime_ns):
            result.failed_before += 1
        else:
            candidates.append(f)
    gone_by_hash = {hashes[p]: p for p in known if p not in present}
    for f, digest in zip(candidates, ordered_map(lambda f: content_hash(f.path), candidates, threads)):
        if f.path in known and hashes[f.path] == digest:  # touched, same content
            result.moves.append((f.path, f.path, f.size, f.mtime_ns))
        elif f.path not in known and digest in gone_by_hash:
            result.moves.append((gone_by_hash.pop(digest), f.path, f.size, f.mtime_ns))
        else:
            result.analyse.append((f, digest))
    result.removed = sorted(set(gone_by_hash.values()) | {p for p in failures if p not in present})
    return result
