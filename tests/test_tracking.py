"""Run names: told apart at a glance, every job of a sweep named by what it changes."""

from training.config import compose_config
from training.tracking import run_name

IGNORED = list(compose_config().tracking.name_ignores)


def test_a_run_is_named_by_its_experiment_and_overrides():
    assert run_name("smoke", ["experiment=smoke", "model.optimizer.lr=3e-3", "seed=1"], IGNORED) == "smoke lr=3e-3 seed=1"
    assert run_name("smoke", ["experiment=smoke"], IGNORED) == "smoke"


def test_where_the_data_lives_is_left_out():
    overrides = ["data.root=/data/gtzan", "data.cache_dir=/tmp/c", "trainer.limit_train_batches=2", "resume=true", "seed=3"]
    assert run_name("crnn", overrides, IGNORED) == "crnn seed=3"


def test_keys_that_share_a_last_part_stay_whole():
    overrides = ["model.optimizer.lr=1e-3", "model.scheduler.lr=0.1", "+trainer.max_epochs=3"]
    assert run_name("train", overrides, IGNORED) == "train model.optimizer.lr=1e-3 model.scheduler.lr=0.1 max_epochs=3"
