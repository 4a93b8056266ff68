import numpy as np
import pytest
import soundfile as sf

from conftest import shared_path
from data.audio import AudioDecodeError, load_audio

# (file, seconds) as listed in ../shared/audio/README.md
REAL_AUDIO = [("elf-land.ogg", 26.8), ("sad.ogg", 44.4), ("transience.ogg", 48.0), ("machine_wars.mp3", 290.8)]


@pytest.mark.parametrize("name,seconds", REAL_AUDIO)
@pytest.mark.parametrize("rate", [12000, 22050])
def test_real_files_decode_to_mono_at_the_requested_rate(name, seconds, rate):
    path = shared_path("audio", name)
    wave = load_audio(path, rate)
    assert wave.ndim == 1 and wave.dtype.is_floating_point
    assert abs(len(wave) / rate - seconds) < 0.25  # README rounds; mp3 encoder padding
    assert sf.info(str(path)).channels == 2  # the files are stereo: down-mixed above
    assert 0.01 < wave.abs().max() <= 1.5


def test_resampling_keeps_pitch(tmp_path):
    t = np.arange(44100) / 44100
    sf.write(tmp_path / "a.flac", 0.5 * np.sin(2 * np.pi * 440 * t), 44100)
    wave = load_audio(tmp_path / "a.flac", 12000).numpy()
    assert len(wave) == 12000
    peak_hz = np.argmax(np.abs(np.fft.rfft(wave))) * 12000 / len(wave)
    assert abs(peak_hz - 440) <= 1


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("AU", "PCM_16"), ("WAV", "PCM_U8"), ("AU", "PCM_S8"),
                                          ("FLAC", "PCM_16"), ("WAV", "PCM_24"), ("WAV", "FLOAT"), ("WAV", "ULAW")])
def test_decoded_samples_equal_libsndfiles_float_conversion(tmp_path, fmt, subtype):
    """16-bit and 8-bit PCM take a faster int16 read; the values must not change."""
    stereo = np.clip(np.random.default_rng(0).normal(0, 0.3, (8000, 2)), -1, 1)
    path = tmp_path / f"noise.{fmt.lower()}"
    sf.write(path, stereo, 8000, format=fmt, subtype=subtype)
    reference = sf.read(path, dtype="float32")[0].mean(axis=1)
    np.testing.assert_allclose(load_audio(path, 8000).numpy(), reference, rtol=0, atol=1e-7)


def _file(path, content: bytes):
    path.write_bytes(content)
    return path


def _wav(path, seconds, rate=22050, amplitude=0.5):
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, amplitude * np.sin(2 * np.pi * 220 * t), rate, subtype="PCM_16")
    return path


@pytest.mark.parametrize(
    "make,reason",
    [
        (lambda d: _file(d / "empty.wav", b""), "empty"),
        (lambda d: _file(d / "song.mp3", b"this is not audio\n" * 50), "not a readable audio file (unknown or corrupt format)"),
        (lambda d: _file(d / "notes.md", b"# this is not audio\n" * 50), "not a readable audio file (unknown or corrupt format)"),
        (lambda d: d / "missing.ogg", "not found"),
        (lambda d: _wav(d / "short.wav", 0.1), "too short"),
        (lambda d: _wav(d / "silent.wav", 2.0, amplitude=0.0), "silent"),
    ],
)
def test_bad_files_raise_a_clear_error_naming_the_file(tmp_path, make, reason):
    path = make(tmp_path)
    with pytest.raises(AudioDecodeError) as info:
        load_audio(path, 12000)
    assert reason in str(info.value)
    assert path.name in str(info.value)


def test_an_mp3_with_a_damaged_stretch_decodes_without_libmpg123s_notes_on_stderr(tmp_path, capfd):
    """libsndfile's mp3 decoder (libmpg123) prints "Note: Illegal Audio-MPEG-Header ..." on the C
    library's stderr as it skips the damage."""
    path = tmp_path / "damaged.mp3"
    sf.write(path, 0.5 * np.sin(2 * np.pi * 220 * np.arange(5 * 22050) / 22050), 22050, format="MP3")
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2] + bytes(500) + whole[len(whole) // 2 :])
    capfd.readouterr()
    assert len(load_audio(path, 12000)) == 5 * 12000
    assert capfd.readouterr().err == ""


def test_truncated_wav_is_refused(tmp_path):
    whole = _wav(tmp_path / "whole.wav", 3.0).read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(AudioDecodeError, match="truncated"):
        load_audio(tmp_path / "cut.wav", 12000)


def test_too_long_is_refused_from_the_header(tmp_path):
    path = _wav(tmp_path / "long.wav", 5.0)
    with pytest.raises(AudioDecodeError, match="too long"):
        load_audio(path, 12000, max_seconds=4.0)
    assert len(load_audio(path, 12000, max_seconds=6.0)) == 60000


def test_m4a_is_decoded_through_ffmpeg_like_the_same_audio_as_wav(tmp_path):
    """libsndfile cannot open m4a/AAC (what stores sell); PyAV's FFmpeg can, behind the same call."""
    import av

    from data.synthetic import SAMPLE_RATE, render_clip

    samples = render_clip("rock", 6.0, np.random.default_rng(1))
    sf.write(tmp_path / "song.wav", samples, SAMPLE_RATE)
    with av.open(str(tmp_path / "song.m4a"), "w") as out:
        stream = out.add_stream("aac", rate=SAMPLE_RATE)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="fltp", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    with pytest.raises(sf.LibsndfileError):
        sf.info(str(tmp_path / "song.m4a"))
    wav, m4a = load_audio(tmp_path / "song.wav", 12000), load_audio(tmp_path / "song.m4a", 12000)
    assert abs(len(m4a) - len(wav)) < 0.1 * 12000  # AAC pads its start and end by a few ms
    spectrum = lambda x: np.abs(np.fft.rfft(x[:60000].numpy()))  # noqa: E731
    assert np.corrcoef(spectrum(wav), spectrum(m4a))[0, 1] > 0.9  # the same music, through a lossy codec
    with pytest.raises(AudioDecodeError, match="too long"):
        load_audio(tmp_path / "song.m4a", 12000, max_seconds=3)
    (tmp_path / "broken.m4a").write_bytes(b"\x00\x00\x00\x18ftypM4A " + b"\x00" * 64)
    with pytest.raises(AudioDecodeError, match="broken.m4a"):
        load_audio(tmp_path / "broken.m4a", 12000)


@pytest.mark.parametrize("suffix", [".opus", ".ogg", ".flac", ".mp3", ".wav"])
def test_a_stretch_decodes_to_the_same_samples_as_the_whole_file(tmp_path, suffix):
    """`read(start, stop)` seeks (FFmpeg for Opus, libsndfile for the rest) yet returns the
    samples the whole decode holds there: what lets the indexer decode only its windows."""
    import av

    from data.audio import open_song
    from data.synthetic import SAMPLE_RATE, render_clip

    samples = render_clip("jazz", 20.0, np.random.default_rng(2)).astype(np.float32)
    path = tmp_path / f"song{suffix}"
    if suffix == ".opus":
        with av.open(str(path), "w") as out:
            stream = out.add_stream("libopus", rate=48000)
            stream.layout = "mono"
            resampled = np.interp(np.arange(0, len(samples), SAMPLE_RATE / 48000), np.arange(len(samples)), samples)
            frame = av.AudioFrame.from_ndarray(resampled[None, :].astype(np.float32), format="fltp", layout="mono")
            frame.sample_rate = 48000
            for packet in [*stream.encode(frame), *stream.encode(None)]:
                out.mux(packet)
    else:
        sf.write(path, samples, SAMPLE_RATE)
    whole = load_audio(path, 12000)
    with open_song(path) as song:
        assert abs(song.seconds - 20.0) < 0.1
        stretches = [(song.read(12000, start, stop), start, stop) for start, stop in [(7.5, 12.0), (1.0, 2.0), (15.0, 19.0)]]
    for stretch, start, stop in stretches:
        reference = whole[round(start * 12000) : round(stop * 12000)]
        assert len(stretch) == len(reference)
        # the resampler sees the stretch's edges as silence: compare inside them
        assert float((stretch[200:-200] - reference[200:-200]).abs().max()) < 1e-4
