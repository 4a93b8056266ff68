"""Answers as playlists a player opens: extended M3U, UTF-8, absolute paths."""

from __future__ import annotations

from pathlib import Path


def write_playlist(path: str | Path, entries: list[tuple[str, float, str]]) -> Path:
    """An extended M3U playlist of (absolute path, seconds, title) entries, in order."""
    lines = ["#EXTM3U"]
    for file, seconds, title in entries:
        lines += [f"#EXTINF:{round(seconds)},{title}", file]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
