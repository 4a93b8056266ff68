"""What changed in a library's folders since it last saw them: new, changed, moved, touched,
removed. Files are compared by size and modification time; only those that differ are hashed.
A folder that cannot be listed is reported, and the songs under it are kept."""

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
    path: str  # absolute; for a media server's song, the library's name for it (`library.server_songs`)
    size: int
    mtime_ns: int
    server_id: str | None = None  # the song's id on its media server


@dataclass
class Plan:
    analyse: list[tuple[FileState, str]] = field(default_factory=list)  # with content hashes ("" until read)
    moves: list[tuple[str, str, int, int]] = field(default_factory=list)  # old, new, size, mtime
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed_before: int = 0  # unchanged files that could not be analysed last time


@dataclass
class Scan:
    files: list[FileState]  # every audio file found, sorted by path
    unreadable: list[str]  # folders (or files) that could not be read: what is under them is not "removed"


def scan(folders: list[str]) -> Scan:
    """Every audio file under `folders` (recursively, links followed)."""
    found, unreadable = [], []
    for folder in folders:
        for root, _, names in os.walk(folder, followlinks=True, onerror=lambda error: unreadable.append(error.filename)):
            for name in names:
                path = Path(root, name)
                if path.suffix.lower() in AUDIO_SUFFIXES:
                    try:
                        stat = path.stat()
                    except OSError:  # a broken link, or gone since it was listed
                        unreadable.append(str(path))
                        continue
                    found.append(FileState(str(path), stat.st_size, stat.st_mtime_ns))
    return Scan(sorted(found, key=lambda f: f.path), unreadable)


def under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def content_hash(path: str) -> str:
    """sha256 of the file's bytes: what recognises a moved or renamed song."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def plan(library: Library, found: Scan, threads: int, hash_files: bool = True) -> Plan:
    """What to do with each file: leave, analyse, move, or remove (never what lies under a
    folder that could not be read). Without `hash_files` (a media server's songs, not files
    here), nothing is recognised as moved, and new and changed songs are hashed when read."""
    files = found.files
    known, failures = library.files(), library.failures()
    hashes = dict(library.db.execute("SELECT path, content_hash FROM songs"))
    present = {f.path for f in files} | {p for p in [*known, *failures] if any(under(p, u) for u in found.unreadable)}
    result, candidates = Plan(), []
    for f in files:
        if known.get(f.path) == (f.size, f.mtime_ns):
            result.unchanged += 1
        elif f.path not in known and failures.get(f.path, (None, None))[:2] == (f.size, f.mtime_ns):
            result.failed_before += 1
        else:
            candidates.append(f)
    gone_by_hash = {hashes[p]: p for p in known if p not in present}
    digests = ordered_map(lambda f: content_hash(f.path), candidates, threads) if hash_files else [""] * len(candidates)
    for f, digest in zip(candidates, digests):
        if f.path in known and hashes[f.path] == digest:  # touched, same content
            result.moves.append((f.path, f.path, f.size, f.mtime_ns))
        elif f.path not in known and digest in gone_by_hash:
            result.moves.append((gone_by_hash.pop(digest), f.path, f.size, f.mtime_ns))
        else:
            result.analyse.append((f, digest))
    result.removed = sorted(set(gone_by_hash.values()) | {p for p in failures if p not in present})
    return result
