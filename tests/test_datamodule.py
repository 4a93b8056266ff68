from conftest import data_module


def test_batches_from_a_synthetic_root(tmp_path, synthetic_root):
    dm = data_module(synthetic_root, tmp_path, "data.batch_size=4", "data.eval_clips_per_batch=2",
                     "data.windows_per_clip=1", "data.synthetic=null")
    dm.prepare_data()
    dm.setup("fit")
    assert dm.split_sizes() == {"train": 10, "valid": 10, "test": 10}
    frames = dm.windows.frames(dm.spectrogram)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 1, 64, frames) and y.shape == (4,)
    batch = next(iter(dm.val_dataloader()))
    windows_per_clip = len(batch["x"]) // 2
    assert batch["x"].shape[1:] == (1, 64, frames)
    assert windows_per_clip >= 19  # 30 s in 3 s windows with a 1.5 s hop
    assert batch["clip_index"].tolist() == [0] * windows_per_clip + [1] * windows_per_clip
    assert batch["y"].tolist() == [batch["clip_y"][0]] * windows_per_clip + [batch["clip_y"][1]] * windows_per_clip


def test_synthetic_data_is_generated_when_missing(tmp_path):
    root = tmp_path / "syn"
    dm = data_module(root, tmp_path / "cache", "data.synthetic.clips_per_genre=3", "data.synthetic.seconds=4.0",
                     "data.synthetic.seed=1")
    dm.prepare_data()
    dm.setup("fit")
    assert len(list(root.glob("genres_original/*/*.wav"))) == 30
    x, _ = next(iter(dm.train_dataloader()))
    assert x.shape[-1] == dm.windows.frames(dm.spectrogram)
