"""The old project's model: converted weights against Keras 1.1 semantics, then on real music.

The reference below is plain numpy written from Keras 1.1.0's documented layer semantics
(Theano backend, 'th' ordering), reading the HDF5 file directly: it shares no code with the
PyTorch port it checks.
"""

import json
from pathlib import Path

import h5py
import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

from conftest import bentoml_server, run_module, shared_path
from data.gtzan import GENRES
from model.artifact import ModelArtifact
from model.networks import build_network
from model.precision import native_bf16
from training.import_keras import KERAS_NETWORK, convert


def _w(f, layer, key):
    return np.asarray(f[layer][f"{layer}_{key}"], dtype=np.float64)


def keras_bn(f, layer, x, axis):
    shape = [1] * x.ndim
    shape[axis] = -1
    mean, var = _w(f, layer, "running_mean").reshape(shape), _w(f, layer, "running_std").reshape(shape)
    return (x - mean) / np.sqrt(var + 1e-5) * _w(f, layer, "gamma").reshape(shape) + _w(f, layer, "beta").reshape(shape)


def theano_conv_same(f, layer, x):
    """Theano conv2d, border 'half': a true convolution (the kernel flipped), zero padding 1."""
    kernel, bias = _w(f, layer, "W"), _w(f, layer, "b")
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    patches = sliding_window_view(padded, (3, 3), axis=(2, 3))  # (n, c, h, w, 3, 3)
    out = np.einsum("nchwuv,ocuv->nohw", patches, kernel[:, :, ::-1, ::-1], optimize=True)
    return out + bias[None, :, None, None]


def max_pool(x, size):
    n, c, h, w = x.shape
    h2, w2 = h // size[0], w // size[1]
    return x[:, :, : h2 * size[0], : w2 * size[1]].reshape(n, c, h2, size[0], w2, size[1]).max(axis=(3, 5))


def keras_gru(f, layer, x):
    hard_sigmoid = lambda v: np.clip(0.2 * v + 0.5, 0, 1)  # noqa: E731
    W = {g: _w(f, layer, f"W_{g}") for g in "zrh"}
    U = {g: _w(f, layer, f"U_{g}") for g in "zrh"}
    b = {g: _w(f, layer, f"b_{g}") for g in "zrh"}
    h = np.zeros((x.shape[0], U["z"].shape[0]))
    states = []
    for t in range(x.shape[1]):
        z = hard_sigmoid(x[:, t] @ W["z"] + b["z"] + h @ U["z"])
        r = hard_sigmoid(x[:, t] @ W["r"] + b["r"] + h @ U["r"])
        hh = np.tanh(x[:, t] @ W["h"] + b["h"] + (r * h) @ U["h"])
        h = z * h + (1 - z) * hh
        states.append(h)
    return np.stack(states, axis=1)


def reference_layers(f, x):
    """Keras 1.1 forward pass, layer by layer: {name: output}."""
    out = {}
    x = np.pad(x, ((0, 0), (0, 0), (0, 0), (37, 37)))  # ZeroPadding2D((0, 37))
    x = out["bn_0_freq"] = keras_bn(f, "bn_0_freq", x, axis=3)
    for i, pool in enumerate([(2, 2), (3, 3), (4, 4), (4, 4)], 1):
        x = out[f"conv{i}"] = theano_conv_same(f, f"conv{i}", x)
        x = out[f"bn{i}"] = keras_bn(f, f"bn{i}", x, axis=1)
        x = out[f"elu{i}"] = np.where(x > 0, x, np.expm1(np.minimum(x, 0)))
        x = out[f"pool{i}"] = max_pool(x, pool)
    x = x.transpose(0, 3, 1, 2).reshape(x.shape[0], 15, 128)  # Permute((3, 1, 2)), Reshape((15, 128))
    x = out["gru1"] = keras_gru(f, "gru1", x)
    x = out["gru2"] = keras_gru(f, "gru2", x)[:, -1]
    out["preds"] = 1 / (1 + np.exp(-(x @ _w(f, "preds", "W") + _w(f, "preds", "b"))))
    return out


def ported_layers(network, x):
    """The PyTorch port's outputs at the same points, via forward hooks."""
    out, hooks = {}, []
    names = {"input_norm": "bn_0_freq", "gru1": "gru1", "gru2": "gru2"}
    for i in range(4):
        names.update({f"blocks.{i}.0": f"conv{i + 1}", f"blocks.{i}.1": f"bn{i + 1}",
                      f"blocks.{i}.2": f"elu{i + 1}", f"blocks.{i}.3": f"pool{i + 1}"})
    modules = dict(network.named_modules())
    for module_name, name in names.items():
        hooks.append(modules[module_name].register_forward_hook(
            lambda m, i, o, name=name: out.__setitem__(name, o.detach().numpy())))
    logits, _ = network(torch.from_numpy(x))
    for hook in hooks:
        hook.remove()
    out["bn_0_freq"] = out["bn_0_freq"].transpose(0, 2, 3, 1)  # the port normalises a permuted view
    out["gru2"] = out["gru2"][:, -1]
    out["preds"] = torch.sigmoid(logits).detach().numpy()
    return out


def test_import_compares_bf16_with_fp32_on_real_gtzan_clips(keras_store, tmp_path):
    model = keras_store["BENTOML_HOME"]
    artifact = ModelArtifact.load(next(Path(model, "models", "genre-crnn-keras").glob("*/model.json")).parent)
    check = artifact.info["bf16_check"]
    assert check["clips"] == 50 and check["split"] == "gtzan_mini"
    # measured: 50 of 50 kept their top genre, 72% accuracy in both (README)
    assert check["same_top_genre"] >= 48 and 0 < check["max_probability_difference"] < 0.05
    assert 0.70 <= check["fp32_accuracy"] <= 0.74 and abs(check["bf16_accuracy"] - check["fp32_accuracy"]) <= 0.04
    # what `precision: auto` makes of it, as the CLI reports it
    done = run_module("serving", "classify", "--model", "genre-crnn-keras", str(shared_path("audio", "sad.ogg")),
                      cwd=tmp_path, env=keras_store)
    expected = "auto: bf16, same top genre as fp32 on all 50" if native_bf16() and check["same_top_genre"] == 50 else "auto: fp32"
    assert expected in done.stderr


def test_converted_network_matches_keras_semantics_layer_by_layer(keras_weights):
    x = np.random.default_rng(0).normal(-30.0, 15.0, size=(2, 1, 96, 1366))
    network = build_network(KERAS_NETWORK, len(GENRES))
    network.load_state_dict(convert(keras_weights))
    network = network.double().eval()
    with h5py.File(keras_weights, "r") as f:
        expected = reference_layers(f, x)
    actual = ported_layers(network, x)
    assert list(actual) and set(actual) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(actual[name], value, rtol=1e-4, atol=1e-4, err_msg=name)
    # in float32, as served, the outputs still agree within 1e-4
    single = build_network(KERAS_NETWORK, len(GENRES))
    single.load_state_dict(convert(keras_weights))
    scores = torch.sigmoid(single.eval()(torch.from_numpy(x).float())[0]).detach().numpy()
    np.testing.assert_allclose(scores, expected["preds"], atol=1e-4)


def test_orchestral_pieces_come_out_classical(keras_store, tmp_path):
    env = keras_store
    pieces = [str(shared_path("audio", n)) for n in ("elf-land.ogg", "sad.ogg", "transience.ogg")]
    result = json.loads(run_module("serving", "classify", "--model", "genre-crnn-keras", "--json", *pieces,
                                   cwd=tmp_path, env=env).stdout)
    assert [song["genre"] for song in result["songs"]] == ["classical"] * 3
    assert all(song["probabilities"]["classical"] > 0.5 for song in result["songs"])
    assert len(result["songs"][2]["windows"]) == 1  # 48 s: one centre 29.12 s window


def test_import_refuses_a_file_that_is_not_the_keras_model(tmp_path):
    (tmp_path / "other.h5").write_bytes(b"not hdf5")
    done = run_module("training.import_keras", str(tmp_path / "other.h5"), cwd=tmp_path,
                      env={"BENTOML_HOME": str(tmp_path / "bentoml")}, check=False)
    assert done.returncode != 0 and "not the old project's CRNN weights" in done.stderr
    assert not (tmp_path / "bentoml" / "models" / "genre-crnn-keras").exists()


def test_the_keras_model_serves_by_default_where_no_model_was_trained(keras_store, tmp_path):
    with bentoml_server(keras_store, tmp_path) as client:  # conf/serving.yaml's model_tags: the second is there
        path = shared_path("audio", "elf-land.ogg")
        answer = client.post("/classify", files=[("audio", (path.name, path.read_bytes()))])
    assert answer.status_code == 200, answer.text
    assert answer.json()["genre"] == "classical"
    assert answer.json()["model"].startswith("genre-crnn-keras:") and answer.json()["caveat"] is None  # a real model


def test_recommend_with_list_files_of_real_songs(keras_store, tmp_path):
    audio = shared_path("audio")
    (tmp_path / "list_example.txt").write_text(f"{audio}/elf-land.ogg\n{audio}/sad.ogg\n")
    (tmp_path / "list_recommendation.txt").write_text(f"{audio}/machine_wars.mp3\n{audio}/transience.ogg\n")
    result = json.loads(run_module(
        "serving", "--model", "genre-crnn-keras", "recommend", "--favorites", "list_example.txt",
        "--candidates", "list_recommendation.txt", "--json", cwd=tmp_path, env=keras_store,
    ).stdout)
    assert result["favorite_genre"] == "classical"
    assert [r["file"] for r in result["recommendations"]] == ["transience.ogg", "machine_wars.mp3"]
    assert len(next(f for f in result["favorites"] if f["file"] == "sad.ogg")["probabilities"]) == 10
