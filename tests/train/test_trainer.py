"""Training settings and device choice (the training loop itself runs in the end-to-end
tests of index/adaptation and the adapt/finetune commands)."""

from __future__ import annotations

import pytest

from hybridsearch.errors import InvalidInputError
from hybridsearch.train.pairs import TrainingPair
from hybridsearch.train.trainer import TrainSettings, resolve_device, train_encoder


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("batch_size", 0, "batch_size"),
        ("epochs", 1.5, "epochs"),
        ("learning_rate", 0.0, "learning_rate must be > 0"),
        ("warmup_fraction", 1.0, r"warmup_fraction must be in \[0, 1\)"),
        ("scale", -1.0, "scale must be > 0"),
        ("device", "", "device must be a non-empty str"),
    ],
)
def test_bad_settings_are_refused_when_made(field, value, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        TrainSettings(**{field: value})


def test_defaults_follow_sentence_transformers_practice() -> None:
    settings = TrainSettings()
    assert (settings.batch_size, settings.learning_rate, settings.scale) == (32, 2e-5, 20.0)
    assert settings.to_dict()["max_seq_length"] == 128


def test_auto_device_is_cuda_only_when_torch_sees_a_gpu() -> None:
    torch = pytest.importorskip("torch")
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"


def test_one_pair_has_no_in_batch_negative_and_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="at least 2 pairs"):
        train_encoder(None, [TrainingPair("q", "p")])
