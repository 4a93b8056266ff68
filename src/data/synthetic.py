"""Generate a GTZAN-shaped data set whose ten classes differ the way genres do.

Each genre is a style: tempo, pitch range, timbre (partials, roll-off, distortion, envelope),
chord size, where notes fall in the bar, swing, and a drum pattern. Every clip draws its own
tempo, key, melody, levels and noise, so no constant marker gives the class away: a model has
to learn it from the spectrogram. Same seed, same files.

    python -m data.synthetic --out DIR --clips-per-genre N [--seconds S] [--seed K]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from tqdm.auto import tqdm

from data.gtzan import GENRES

SAMPLE_RATE = 22050  # GTZAN's rate
EIGHTHS = tuple(range(0, 16, 2))
SIXTEENTHS = tuple(range(16))


@dataclass(frozen=True)
class Style:
    tempo: tuple[float, float]  # beats per minute
    pitch: tuple[int, int]  # MIDI range of the harmonic part
    partials: int
    rolloff: float  # partial k has amplitude k ** -rolloff
    onsets: tuple[int, ...]  # sixteenth-note steps of the bar where notes start
    note_steps: float  # note length in sixteenths
    decay: float  # envelope decay per second: high = plucked, low = sustained
    chord: int  # notes sounding together
    drive: float  # tanh distortion, 0 = clean
    kick: tuple[int, ...] = ()
    snare: tuple[int, ...] = ()
    hats: tuple[int, ...] = ()
    swing: float = 0.0  # delay of off-beat sixteenths, as a fraction of a step
    bass: bool = True


STYLES: dict[str, Style] = {
    "blues": Style((70, 95), (40, 64), 6, 1.2, (0, 4, 8, 12), 4, 1.5, 1, 0.3,
                   kick=(0, 8), snare=(4, 12), hats=(0, 4, 8, 12), swing=0.33),
    "classical": Style((50, 80), (60, 88), 4, 2.0, (0, 8), 8, 0.3, 3, 0.0, bass=False),
    "country": Style((100, 130), (52, 76), 10, 1.0, EIGHTHS, 2, 6.0, 2, 0.0,
                     kick=(0, 8), snare=(4, 12)),
    "disco": Style((115, 128), (55, 79), 5, 1.5, (0, 4, 8, 12), 4, 2.0, 3, 0.0,
                   kick=(0, 4, 8, 12), snare=(4, 12), hats=(2, 6, 10, 14)),
    "hiphop": Style((80, 95), (36, 55), 3, 2.5, (0, 8), 8, 1.0, 1, 0.0,
                    kick=(0, 3, 10), snare=(4, 12), hats=EIGHTHS, swing=0.15),
    "jazz": Style((110, 160), (48, 84), 3, 2.2, EIGHTHS, 2, 3.0, 1, 0.0,
                  hats=(0, 6, 8, 14), swing=0.33),
    "metal": Style((160, 200), (28, 50), 12, 0.6, SIXTEENTHS, 1, 0.5, 2, 4.0,
                   kick=EIGHTHS, snare=(4, 12)),
    "pop": Style((100, 124), (64, 84), 6, 1.6, (0, 4, 8, 12), 4, 1.5, 1, 0.0,
                 kick=(0, 8), snare=(4, 12), hats=EIGHTHS),
    "reggae": Style((65, 85), (55, 72), 6, 1.3, (4, 12), 2, 8.0, 3, 0.0,
                    kick=(8,), snare=(8,)),
    "rock": Style((115, 140), (40, 64), 10, 0.9, EIGHTHS, 2, 1.0, 2, 2.0,
                  kick=(0, 6, 8), snare=(4, 12), hats=EIGHTHS),
}  # fmt: skip


def render_clip(genre: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """One clip of `genre` as float32 samples at 22050 Hz, peak 0.9."""
    style = STYLES[genre]
    n = int(round(seconds * SAMPLE_RATE))
    out = np.zeros(n, dtype=np.float64)
    step = 60.0 / rng.uniform(*style.tempo) / 4  # seconds per sixteenth
    root = int(rng.integers(style.pitch[0], style.pitch[1] - 7))
    scale = np.array([0, 2, 3, 5, 7, 9, 10, 12])
    bars = int(np.ceil(seconds / (16 * step)))
    for bar in range(bars):
        for pos in range(16):
            t0 = (bar * 16 + pos + (style.swing if pos % 2 else 0.0)) * step
            if t0 >= seconds:
                continue
            if pos in style.onsets and rng.random() > 0.1:
                pitch = root + scale[rng.integers(len(scale))] + 12 * rng.integers(0, 2)
                pitch = int(np.clip(pitch, *style.pitch))
                chord = [pitch + interval for interval in (0, 7, 4, 12)[: style.chord]]
                _add(out, t0, _tone(chord, style, style.note_steps * step, rng))
            if style.bass and pos in (0, 8):
                _add(out, t0, 0.6 * _tone([root - 24 + 12 * (pos == 8)], _BASS, 8 * step, rng))
            for pattern, drum in ((style.kick, _kick), (style.snare, _snare), (style.hats, _hat)):
                if pos in pattern:
                    _add(out, t0, rng.uniform(0.6, 1.0) * drum(rng))
    if style.drive:
        out = np.tanh(style.drive * out / (np.abs(out).max() + 1e-9))
    out += rng.uniform(0.002, 0.01) * rng.standard_normal(n) * np.abs(out).max()
    return (0.9 * out / (np.abs(out).max() + 1e-9)).astype(np.float32)


_BASS = Style((0, 0), (0, 127), 3, 2.0, (), 0, 2.0, 1, 0.0)


def _tone(pitches: list[int], style: Style, length: float, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(length * SAMPLE_RATE)) / SAMPLE_RATE
    k = np.arange(1, style.partials + 1)[:, None]
    amps = k ** -style.rolloff * rng.uniform(0.7, 1.3, size=k.shape)
    wave = np.zeros_like(t)
    for pitch in pitches:
        freq = 440.0 * 2 ** ((pitch - 69) / 12)
        usable = (k[:, 0] * freq) < SAMPLE_RATE / 2
        wave += (amps[usable] * np.sin(2 * np.pi * freq * k[usable] * t)).sum(axis=0)
    attack = np.minimum(1.0, t / 0.01)
    release = np.minimum(1.0, (length - t) / 0.02)
    return rng.uniform(0.5, 1.0) * wave * attack * release * np.exp(-style.decay * t)


def _kick(rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.25 * SAMPLE_RATE)) / SAMPLE_RATE
    phase = 2 * np.pi * (50 * t + 100 * (1 - np.exp(-t / 0.04)) * 0.04)
    return 2.0 * np.sin(phase) * np.exp(-t / 0.12)


def _snare(rng: np.random.Generator) -> np.ndarray:
    t = np.arange(int(0.2 * SAMPLE_RATE)) / SAMPLE_RATE
    body = np.sin(2 * np.pi * 190 * t) * np.exp(-t / 0.05)
    return (0.8 * rng.standard_normal(t.size) + body) * np.exp(-t / 0.07)


def _hat(rng: np.random.Generator) -> np.ndarray:
    noise = np.diff(rng.standard_normal(int(0.06 * SAMPLE_RATE) + 1))
    return 0.4 * noise * np.exp(-np.arange(noise.size) / (0.015 * SAMPLE_RATE))


def _add(out: np.ndarray, t0: float, sound: np.ndarray) -> None:
    start = int(t0 * SAMPLE_RATE)
    end = min(out.size, start + sound.size)
    if start < end:
        out[start:end] += sound[: end - start]


def generate(
    out: str | Path, clips_per_genre: int, seconds: float = 30.0, seed: int = 0
) -> list[Path]:
    """Write `out/genres_original/<genre>/<genre>.000NN.wav`; a set already made with the same
    settings is left as it is."""
    out = Path(out)
    settings = {"clips_per_genre": clips_per_genre, "seconds": seconds, "seed": seed}
    marker = out / "synthetic.json"
    paths = [
        out / "genres_original" / genre / f"{genre}.{number:05d}.wav"
        for genre in GENRES
        for number in range(clips_per_genre)
    ]
    if marker.exists() and json.loads(marker.read_text()) == settings and all(p.exists() for p in paths):
        return paths
    marker.unlink(missing_ok=True)
    for path in tqdm(paths, desc=f"synthetic GTZAN -> {out}", unit="clip"):
        genre, number = path.stem.split(".")
        rng = np.random.default_rng([seed, GENRES.index(genre), int(number)])
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, render_clip(genre, seconds, rng), SAMPLE_RATE, subtype="PCM_16")
    marker.write_text(json.dumps(settings))
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m data.synthetic", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder to write (GTZAN layout under it)")
    parser.add_argument("--clips-per-genre", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=30.0, help="clip length (GTZAN: 30)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    paths = generate(args.out, args.clips_per_genre, args.seconds, args.seed)
    print(f"{len(paths)} clips of {args.seconds:g} s at {SAMPLE_RATE} Hz in {Path(args.out) / 'genres_original'}")


if __name__ == "__main__":
    main()
