"""`python -m training [experiment=NAME] [overrides]`: train, test and track one configuration
(or a sweep with `-m`). The configuration lives in the repository's `conf/` folder."""

import hydra
from omegaconf import DictConfig

from training.train import train


@hydra.main(config_path="../../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> float:
    return train(cfg)


if __name__ == "__main__":
    main()
