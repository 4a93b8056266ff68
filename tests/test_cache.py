import os
import signal
import subprocess
import sys
import time

import torch

from training.config import feature_settings
from data.cache import FeatureCache
from data.folders import Clip, read_folder

SMALL, _ = feature_settings("features=short", "features.spectrogram.n_mels=32")


def _mtimes(cache):
    return {str(p.relative_to(cache.dir)): p.stat().st_mtime_ns for p in cache.dir.glob("*/*.pt")}


def test_built_once_then_only_read(tmp_path, synthetic_root):
    clips = list(read_folder(synthetic_root).clips)
    cache = FeatureCache(tmp_path, SMALL)
    assert cache.build(clips) == clips
    first = _mtimes(cache)
    assert len(first) == 30
    cache.build(clips)
    assert _mtimes(cache) == first
    logmel = cache.load(clips[0])
    assert logmel.shape[0] == 32 and logmel.dtype == torch.float32


def test_a_changed_config_builds_a_new_cache(tmp_path, synthetic_root):
    clips = list(read_folder(synthetic_root).clips)[:2]
    a, b = FeatureCache(tmp_path, SMALL), FeatureCache(tmp_path, SMALL.model_copy(update={"n_mels": 40}))
    a.build(clips), b.build(clips)
    assert a.dir != b.dir and len(_mtimes(b)) == 2 and b.load(clips[0]).shape[0] == 40


def test_an_interrupted_build_resumes(tmp_path, synthetic_root):
    clips = list(read_folder(synthetic_root).clips)
    cache = FeatureCache(tmp_path, SMALL)
    script = (
        "from data.cache import FeatureCache; from data.features import SpectrogramConfig;"
        "from data.folders import read_folder;"
        f"FeatureCache({str(tmp_path)!r}, SpectrogramConfig.model_validate({SMALL.model_dump()!r}))"
        f".build(list(read_folder({str(synthetic_root)!r}).clips))"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while len(list(cache.dir.glob("*/*.pt"))) < 3 and time.time() < deadline:
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _mtimes(cache)
    assert 3 <= len(before) < 30, "the build was not interrupted midway"
    cache.build(clips)
    after = _mtimes(cache)
    assert len(after) == 30
    assert all(after[name] == stamp for name, stamp in before.items())


def test_threaded_build_equals_serial_and_skips_a_broken_clip_naming_it(tmp_path, synthetic_root, caplog):
    clips = list(read_folder(synthetic_root).clips)[:6]
    broken = tmp_path / "data" / "blues.00099.wav"
    broken.parent.mkdir()
    broken.write_bytes(b"RIFF not really a wave file")
    clips.insert(3, Clip("blues/blues.00099.wav", broken, 0, "blues"))
    serial, threaded = FeatureCache(tmp_path / "serial", SMALL), FeatureCache(tmp_path / "threaded", SMALL)
    kept = threaded.build(clips, workers=2)
    assert kept == serial.build(clips, workers=0) == clips[:3] + clips[4:]
    assert "blues.00099.wav" in caplog.text and "not a readable audio file" in caplog.text
    for clip in kept:
        assert torch.equal(threaded.load(clip), serial.load(clip))
