"""The base of every settings block read from YAML (pydantic only, so settings load without torch)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    """A settings block read from YAML: every key required, unknown keys and values refused,
    the error naming the key and the allowed values."""

    model_config = ConfigDict(extra="forbid", frozen=True)
