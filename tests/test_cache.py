from __future__ import annotations

import functools
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from pytest_compress.cache import CacheWarning, ModelCache, cache_key


def _train(model, data, epochs=1):  # noqa: ANN001
    return None


def _key(settings=None, data=None, train=None) -> str:  # noqa: ANN001
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    return cache_key(
        model,
        build=lambda: nn.Linear(4, 2),
        train=train or functools.partial(_train, epochs=2),
        settings=settings or {"lr": 0.1},
        train_data=data or (torch.ones(3, 4), torch.zeros(3)),
    )


def test_key_is_stable_and_changes_with_its_inputs() -> None:
    assert _key() == _key()  # no memory addresses in the key
    assert _key(settings={"lr": 0.2}) != _key()
    assert _key(data=(torch.zeros(3, 4), torch.zeros(3))) != _key()
    assert _key(train=functools.partial(_train, epochs=3)) != _key()


def test_save_load_and_corruption_is_detected(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path)
    state = nn.Linear(4, 2).state_dict()
    path = cache.save("m", "k" * 64, state, {"note": "x"})
    loaded = cache.load("m", "k" * 64)
    assert loaded is not None and all(torch.equal(loaded[k], state[k]) for k in state)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # flip bits in the last weight: loads fine, digest differs
    path.write_bytes(bytes(data))
    with pytest.warns(CacheWarning, match="is corrupt"):
        assert cache.load("m", "k" * 64) is None
    assert not path.exists()


def test_missing_entry_is_a_quiet_miss(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ModelCache(tmp_path).load("m", "0" * 64) is None


def test_method_training_is_cached_by_base_key_and_method_key(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path)
    calls = []

    def train(m: nn.Module) -> None:
        calls.append(1)
        with torch.no_grad():
            m.weight.fill_(0.5)

    first, again = nn.Linear(3, 2), nn.Linear(3, 2)
    assert cache.trained("base", "ft", first, train, {"epochs": 2}) == "trained"
    assert cache.trained("base", "ft", again, train, {"epochs": 2}) == "cache"
    assert torch.equal(again.weight, first.weight) and len(calls) == 1
    assert cache.trained("base", "ft", nn.Linear(3, 2), train, {"epochs": 3}) == "trained"
    assert cache.trained("other-base", "ft", nn.Linear(3, 2), train, {"epochs": 2}) == "trained"
