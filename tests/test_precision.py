"""`precision: auto`: bf16 only for a model whose packaging check found no top genre changed."""

import pytest

from training.config import feature_settings
from data.gtzan import GENRES
from model.artifact import ModelArtifact
from model.precision import native_bf16, resolve_precision


def _artifact(check: dict | None) -> ModelArtifact:
    spectrogram, windows = feature_settings()
    return ModelArtifact({"name": "crnn"}, spectrogram, windows, list(GENRES), {}, "softmax",
                         info={"bf16_check": check} if check else {})


CHECKED = {"split": "filtered test", "clips": 290, "same_top_genre": 290, "fp32_accuracy": 0.71, "bf16_accuracy": 0.712}


@pytest.mark.parametrize("setting", ["fp32", "bf16"])
def test_an_explicit_precision_is_kept(setting):
    assert resolve_precision(setting, _artifact(CHECKED))[0] == setting
    assert resolve_precision(setting, _artifact(None))[0] == setting


@pytest.mark.parametrize("check", [None, {"skipped": "no data"}, {**CHECKED, "same_top_genre": 289}, {**CHECKED, "clips": 0, "same_top_genre": 0}])
def test_auto_stays_fp32_without_a_clean_check(check):
    precision, why = resolve_precision("auto", _artifact(check))
    assert precision == "fp32" and why.startswith("auto: fp32")


def test_auto_takes_bf16_for_a_checked_model_on_a_cpu_with_native_bf16():
    precision, why = resolve_precision("auto", _artifact(CHECKED))
    if native_bf16():
        assert precision == "bf16" and "all 290 filtered test clips" in why and "71.2%" in why
    else:
        assert precision == "fp32" and "no native bf16" in why
