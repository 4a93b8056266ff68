from data.datamodule import GTZANDataModule
from data.features import FeatureConfig

FEATURES = FeatureConfig(n_mels=32, segment_seconds=3.0)


def test_batches_from_a_synthetic_root(tmp_path, synthetic_root):
    dm = GTZANDataModule(str(synthetic_root), FEATURES, split="random", batch_size=4,
                         eval_clips_per_batch=2, cache_dir=str(tmp_path))
    dm.prepare_data()
    dm.setup("fit")
    assert dm.split_sizes() == {"train": 10, "valid": 10, "test": 10}
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (4, 1, 32, FEATURES.segment_frames) and y.shape == (4,)
    batch = next(iter(dm.val_dataloader()))
    windows_per_clip = len(batch["x"]) // 2
    assert batch["x"].shape[1:] == (1, 32, FEATURES.segment_frames)
    assert windows_per_clip >= 19  # 30 s in 3 s windows with a 1.5 s hop
    assert batch["clip_index"].tolist() == [0] * windows_per_clip + [1] * windows_per_clip
    assert batch["y"].tolist() == [batch["clip_y"][0]] * windows_per_clip + [batch["clip_y"][1]] * windows_per_clip


def test_synthetic_data_is_generated_when_missing(tmp_path):
    root = tmp_path / "syn"
    dm = GTZANDataModule(str(root), FEATURES, split="random", cache_dir=str(tmp_path / "cache"),
                         synthetic={"clips_per_genre": 3, "seconds": 4.0, "seed": 1}, num_workers=2)
    dm.prepare_data()
    dm.setup("fit")
    assert len(list(root.glob("genres_original/*/*.wav"))) == 30
    x, _ = next(iter(dm.train_dataloader()))
    assert x.shape[-1] == FEATURES.segment_frames
