"""The decoder's fuzz target (a development helper, not part of the installed package).

One input is a file name's suffix, how to read the file, and the file's bytes: any such input
given to the project's own decoding (`data.audio.load_audio`, or `open_song` + `AudioFile.read`
of a stretch, as the library indexer reads) must either decode or raise `AudioDecodeError` with
a reason. Any other exception is a finding; so are a hang and runaway memory, which libFuzzer
catches itself (`-timeout`, `-rss_limit_mb`; scripts/fuzz_decoder.sh sets both).

    python devtools/fuzz_decoder.py CORPUS_DIR... [libFuzzer flags]   # fuzz (atheris)
    python devtools/fuzz_decoder.py --seeds tests/fuzz_corpus          # write the seed corpus

Input layout: byte 0 picks the suffix (`SUFFIXES`), byte 1 the way of reading (even: the whole
file, as the service and training do; odd: the stretch from byte 2 / 64 seconds for 1.5 s,
which seeks), the rest is the file.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from data.probe import AUDIO_SUFFIXES

SUFFIXES = sorted(AUDIO_SUFFIXES) + ["", ".txt"]
SAMPLE_RATE = 12000  # features=choi's rate (conf/features/choi.yaml): a resampler in the path
MAX_SECONDS = 900  # the service's max_duration_seconds (conf/serving.yaml)


def describe(data: bytes) -> tuple[str, float | None, bytes]:
    """(suffix, start second of the stretch or None for the whole file, file bytes)."""
    suffix = SUFFIXES[data[0] % len(SUFFIXES)] if data else ""
    start = data[2] / 64 if len(data) > 2 and data[1] % 2 else None
    return suffix, start, data[3:]


def decode(data: bytes, folder: Path) -> str | None:
    """Decode one input in `folder`: None where it decoded, else the `AudioDecodeError`'s
    reason. Anything else (another exception, an error without a reason) is raised."""
    from data.audio import AudioDecodeError, load_audio, open_song

    suffix, start, content = describe(data)
    path = folder / f"input{suffix}"
    path.write_bytes(content)
    try:
        if start is None:
            load_audio(path, SAMPLE_RATE, max_seconds=MAX_SECONDS)
        else:
            with open_song(path, MAX_SECONDS) as song:
                song.read(SAMPLE_RATE, start, start + 1.5)
    except AudioDecodeError as exc:
        if not exc.reason:
            raise AssertionError(f"AudioDecodeError without a reason: {exc!r}") from None
        return exc.reason
    finally:
        path.unlink()
    return None


def encode(suffix: str, content: bytes, start: float | None = None) -> bytes:
    """The input that `describe` reads back as (suffix, start, content)."""
    mode = bytes([0, 0]) if start is None else bytes([1, round(start * 64)])
    return bytes([SUFFIXES.index(suffix)]) + mode + content


def write_seeds(folder: Path) -> None:
    """Tiny real files of every format the decoders read (1.5 s of a chord at low rates, so the
    corpus stays small), each read whole and as a stretch that seeks."""
    import io

    import av
    import numpy as np
    import soundfile as sf

    def chord(rate: int, channels: int) -> np.ndarray:
        t = np.arange(int(1.5 * rate)) / rate
        return np.stack([0.4 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t)], axis=1)[:, :channels]

    def libsndfile(fmt: str, subtype: str, channels: int = 2) -> bytes:
        out, rate = io.BytesIO(), 48000 if subtype == "OPUS" else 8000  # Opus files state 48000
        sf.write(out, chord(rate, channels), rate, format=fmt, subtype=subtype)
        return out.getvalue()

    def ffmpeg(container: str, codec: str) -> bytes:
        out = io.BytesIO()
        with av.open(out, "w", format=container) as f:
            stream = f.add_stream(codec, rate=16000, layout="mono")
            stream.bit_rate = 32000  # wmav2 refuses its default at low rates
            frame = av.AudioFrame.from_ndarray(chord(16000, 1).T.astype(np.float32), format="fltp", layout="mono")
            frame.rate = stream.rate
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                f.mux(packet)
        return out.getvalue()

    files = {
        "pcm.wav": (".wav", libsndfile("WAV", "PCM_U8", 1)),
        "float.wav": (".wav", libsndfile("WAV", "FLOAT", 1)[:4000]),  # cut: the header promises more
        "mulaw.au": (".au", libsndfile("AU", "ULAW", 1)),
        "pcm.aiff": (".aiff", libsndfile("AIFF", "PCM_S8", 1)),
        "stereo.flac": (".flac", libsndfile("FLAC", "PCM_16")),
        "vorbis.ogg": (".ogg", libsndfile("OGG", "VORBIS")),
        "opus.opus": (".opus", libsndfile("OGG", "OPUS", 1)),
        "mono.mp3": (".mp3", libsndfile("MP3", "MPEG_LAYER_III", 1)),
        "aac.m4a": (".m4a", ffmpeg("ipod", "aac")),
        "wma.wma": (".wma", ffmpeg("asf", "wmav2")),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, (suffix, content) in files.items():
        (folder / f"{name}.whole").write_bytes(encode(suffix, content))
        (folder / f"{name}.stretch").write_bytes(encode(suffix, content, start=1.0))
    (folder / "text.mp3.whole").write_bytes(encode(".mp3", b"not audio\n" * 20))


def summary(log: Path, findings: Path, seconds: float) -> dict:
    """A run's figures from libFuzzer's log (several sessions: each ends at a finding or the time)."""
    import re

    sessions = log.read_text(errors="replace").split("INFO: Seed:")[1:]
    status = [re.findall(r"^#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)", s, re.M) for s in sessions]
    last = [lines[-1] for lines in status if lines]
    return {"benchmark": "fuzz_decoder", "seconds": seconds, "cores": os.cpu_count(), "sessions": len(sessions),
            "inputs": sum(int(n) for n, *_ in last), "coverage_edges": max((int(c) for _, c, _, _ in last), default=0),
            "features": max((int(f) for *_, f, _ in last), default=0), "corpus": int(last[-1][3]) if last else 0,
            "findings": sorted(p.name for p in findings.iterdir())}


def main() -> None:
    if sys.argv[1:2] == ["--seeds"]:
        write_seeds(Path(sys.argv[2]))
        return
    if sys.argv[1:2] == ["--summary"]:
        import json

        print(json.dumps(summary(Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]))))
        return
    import importlib

    import atheris

    import data.probe

    with atheris.instrument_imports(include=["data"]):  # Python coverage of the decoding guides the search
        importlib.reload(data.probe)  # imported above for SUFFIXES, before instrumenting
        import data.audio  # noqa: F401
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    # In the working folder (scripts/fuzz_decoder.sh's WORKDIR), so runs leave nothing elsewhere.
    # A crash that corrupts the heap can leave libFuzzer hung before it writes the artifact; the
    # input is then the one file left in this folder (the input's first three bytes are lost:
    # rebuild them with `encode`).
    folder = Path(tempfile.mkdtemp(prefix="inputs-", dir="."))
    print(f"each input is decoded from {folder.resolve()}", file=sys.stderr, flush=True)
    atheris.Setup(sys.argv, lambda data: decode(data, folder))
    atheris.Fuzz()


if __name__ == "__main__":
    main()
