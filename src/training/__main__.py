"""`python -m training [experiment=NAME] [overrides]`: train, test and track one configuration
(or a sweep with `-m`). The configuration lives in the repository's `conf/` folder."""

import hydra
from omegaconf import DictConfig

from training.errors import one_line_errors
from training.train import train


@hydra.main(config_path="../../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    with one_line_errors():  # inside Hydra's job: Hydra adds no report line of its own
        return train(cfg)


if __name__ == "__main__":
    with one_line_errors():  # what Hydra cannot compose: a mistyped key or option
        main()
