"""What the training commands say when the user asked for something that cannot be: one line on
stderr starting `error:` and exit code 1, no traceback, naming what to fix (the closest valid
keys for a mistyped setting). Unexpected errors keep their tracebacks."""

from __future__ import annotations

import difflib
import inspect
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from hydra.errors import CompactHydraException, ConfigCompositionException, MissingConfigException
from hydra.utils import get_object
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError

from training.config import flatten


class UsageError(Exception):
    """A mistake in what was asked (a setting, a data folder, a run to resume), said in one line."""


@contextmanager
def users_errors(*types: type[Exception]) -> Iterator[None]:
    """Errors of `types` raised inside are the user's to fix (the code there reads the paths and
    folders the user named, and its messages say what is wrong): they become UsageErrors."""
    try:
        yield
    except types as exc:
        raise UsageError(str(exc)) from exc


def unknown_setting(key: str, keys: Iterable[str], hint: str) -> UsageError:
    """`key` is no setting: name the closest of `keys` (Hydra's own only for a `hydra.` key), or `hint`."""
    keys = [k for k in dict.fromkeys(keys)
            if k != key and not k.rpartition(".")[2].startswith("_") and (not k.startswith("hydra.") or key.startswith("hydra."))]
    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.8)
    return UsageError(f"unknown setting '{key}' ({did_you_mean(close) if close else hint})")


def did_you_mean(names: list[str]) -> str:
    return f"did you mean {' or '.join(names)}?"


def check_arguments(cfg: DictConfig) -> None:
    """Every key of a block that names a `_target_` is an argument of it. Hydra adds
    `+trainer.max_epoch=3` without a word, and the Trainer would refuse it only after the MLflow
    run started; this names the closest settings and arguments before anything runs."""
    config = OmegaConf.to_container(cfg, resolve=False)
    for path, block in _targets(config):
        parameters = inspect.signature(get_object(block["_target_"])).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            continue
        for key in block:
            if not key.startswith("_") and key not in parameters:
                keys = [*flatten(config), *(f"{path}{name}" for name in parameters)]
                raise unknown_setting(f"{path}{key}", keys, f"not an argument of {block['_target_']}")


def _targets(config: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(key prefix, block) of every block of `config` that names a `_target_`."""
    if "_target_" in config:
        yield path, config
    for key, value in config.items():
        if isinstance(value, dict):
            yield from _targets(value, f"{path}{key}.")


def one_line(exc: CompactHydraException) -> UsageError:
    """Hydra's report of a command line it could not compose, in one line: a mistyped key with
    the closest valid ones, a mistyped group option with the closest options."""
    cause = exc.__cause__
    if (isinstance(exc, ConfigCompositionException) and isinstance(cause, (ConfigAttributeError, ConfigKeyError))
            and cause.parent_node is not None):
        # The config Hydra composed, reached from the node the key was missing in (OmegaConf
        # has no public way up); the valid keys depend on the experiment chosen.
        composed = OmegaConf.to_container(cause.parent_node._get_root(), resolve=False)
        return unknown_setting(cause.full_key, flatten(composed), f"to add a new one: +{cause.full_key}=VALUE")
    if isinstance(exc, MissingConfigException) and exc.options:
        group, _, choice = (exc.missing_cfg_file or "").rpartition("/")
        close = difflib.get_close_matches(choice, exc.options, n=3) or exc.options
        return UsageError(f"no {group} '{choice}' ({did_you_mean(close)})")
    return UsageError(" ".join(str(exc).split()))


@contextmanager
def one_line_errors() -> Iterator[None]:
    """UsageErrors and Hydra's own compact reports (a command line it cannot compose, a target it
    cannot instantiate) end the command with one `error:` line; anything else propagates with its
    traceback. Used around a Hydra app (composition) and inside its task function (where Hydra
    would add a report line of its own)."""
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing its report
    try:
        try:
            yield
        except CompactHydraException as exc:
            raise one_line(exc) from exc
    except UsageError as exc:
        sys.exit(f"error: {exc}")
