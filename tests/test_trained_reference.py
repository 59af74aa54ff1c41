"""A spec can measure with another model's trained reference (``models.trained_reference``): the
generative models score their samples with the digit classifier. Same store, same draw, and an
error outside spec creation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import pytest_compress as pc
from pytest_compress.cache import ModelCache
from pytest_compress.models import ModelStore, reference_digest, trained_reference

X = torch.linspace(-1, 1, 32).reshape(16, 2)
Y = (X.sum(1) > 0).long()
TRAINED: list[int] = []


def _train(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor]) -> None:
    TRAINED.append(1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        nn.functional.cross_entropy(model(data[0]), data[1]).backward()
        opt.step()


@pc.register_model("tref-judge")
def judge() -> pc.ModelSpec:
    return pc.ModelSpec(
        build=lambda: nn.Linear(2, 2), train=_train, train_data=(X, Y), eval_data=(X, Y), example_inputs=(X[:1],)
    )


SEEN: dict[str, nn.Module] = {}


@pc.register_model("tref-user")
def user() -> pc.ModelSpec:
    SEEN["judge"] = trained_reference("tref-judge")
    return pc.ModelSpec(build=lambda: nn.Linear(2, 2), eval_data=(X, Y), example_inputs=(X[:1],))


def test_a_spec_gets_the_same_trained_reference_of_the_same_draw(tmp_path) -> None:
    store = ModelStore(ModelCache(tmp_path))
    TRAINED.clear()
    store.get("tref-user")
    assert SEEN["judge"] is store.get("tref-judge").module  # trained once, shared
    store.get("tref-user", draw=1)
    assert SEEN["judge"] is store.get("tref-judge", draw=1).module
    assert SEEN["judge"] is not store.get("tref-judge").module
    assert len(TRAINED) == 2  # draws 0 and 1, each once


def test_outside_spec_creation_it_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="only available while the plugin makes a ModelSpec"):
        trained_reference("tref-judge")


def test_the_judges_digest_is_part_of_the_users_reference_digest(tmp_path) -> None:
    """A retrained judge scores the same samples differently: it must change the reference digest
    (else an identical artifact would fail "identical-artifact" instead of comparing by spread)."""
    store = ModelStore(ModelCache(tmp_path))
    user, judge = store.get("tref-user"), store.get("tref-judge")
    assert user.digest == reference_digest(user.module, user.data_digest, {"tref-judge": judge.digest})
    assert user.digest != reference_digest(user.module, user.data_digest)
    assert user.digest != reference_digest(user.module, user.data_digest, {"tref-judge": "0" * 64})
    # A model that scores with nothing else keeps the digest it always had.
    assert judge.digest == reference_digest(judge.module, judge.data_digest)
