"""Which packaged model answers: the first of `model_tags` (conf/serving.yaml) that the BentoML
store holds, so a newcomer's first model is the old project's trained one and a model trained
and packaged here takes over; and one line naming the commands that make one where there is none."""

from __future__ import annotations

import bentoml

MAKE_ONE = ("scripts/download_keras_model.sh && python -m training.import_keras models/crnn_gtzan_jsalbert.h5 "
            "(the old project's trained model), or train and package one (python -m training experiment=crnn, "
            "then python -m training.package)")


class NoModel(LookupError):
    """None of the models asked for is in the BentoML store."""


def first_stored(tags: list[str]) -> bentoml.Model:
    """The first of `tags` that the BentoML store holds; `NoModel` saying how to get one."""
    for tag in tags:
        try:
            return bentoml.models.get(tag)
        except bentoml.exceptions.NotFound:
            continue
    raise NoModel(f"no model {' or '.join(tags)} in the BentoML store: get one with {MAKE_ONE}")
