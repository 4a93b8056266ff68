"""A song's genre bars, as a PNG: what people look at first."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from model.song import SongPrediction  # noqa: E402


def genre_bars(song: SongPrediction, path: str | Path) -> Path:
    """Horizontal bars of the song's genre distribution, the top genre highlighted."""
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    shares = [float(p) for p in song.probabilities]
    colours = ["tab:orange" if label == song.genre else "tab:blue" for label in song.labels]
    ax.barh(song.labels, shares, color=colours)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of the song")
    ax.set_title(f"{song.name}: {song.genre} ({max(shares):.0%}), {song.duration:.0f} s", fontsize=10)
    for y, share in enumerate(shares):
        ax.text(min(share + 0.01, 0.9), y, f"{share:.0%}", va="center", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
