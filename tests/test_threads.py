"""Trained weights must not depend on the machine's core count or on how many xdist workers share
it: torch splits reductions by thread, so 1 and 2 threads train different weights. The store
therefore trains on a fixed, configured thread count (part of the cache key), and run_case
computes everything on it."""

from __future__ import annotations

import torch
from torch import nn

import pytest_compress as pc
from pytest_compress.cache import ModelCache
from pytest_compress.models import ModelStore
from pytest_compress.runner import RunSettings, run_case

X = torch.linspace(-1, 1, 64).reshape(32, 2)
Y = (X.sum(1) > 0).long()
SEEN_THREADS: list[int] = []


def _train(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor]) -> None:
    SEEN_THREADS.append(torch.get_num_threads())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        nn.functional.cross_entropy(model(data[0]), data[1]).backward()
        opt.step()


@pc.register_model("threads-linear")
def linear() -> pc.ModelSpec:
    return pc.ModelSpec(
        build=lambda: nn.Linear(2, 2), train=_train, train_data=(X, Y), eval_data=(X, Y), example_inputs=(X[:1],)
    )


def test_training_runs_on_the_stores_threads_whatever_the_process_uses(tmp_path) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        SEEN_THREADS.clear()
        ModelStore(ModelCache(tmp_path / "a"), threads=1).get("threads-linear")
        ModelStore(ModelCache(tmp_path / "b"), threads=3).get("threads-linear")
        assert SEEN_THREADS == [1, 3]
        assert torch.get_num_threads() == 2  # put back
    finally:
        torch.set_num_threads(before)


def test_the_thread_count_is_part_of_the_cache_key(tmp_path) -> None:
    cache = ModelCache(tmp_path)
    one = ModelStore(cache, threads=1).get("threads-linear")
    two = ModelStore(cache, threads=2).get("threads-linear")
    again = ModelStore(cache, threads=1).get("threads-linear")
    assert one.key != two.key
    assert two.source == "trained"  # not served the 1-thread weights
    assert again.source == "cache" and again.key == one.key


def test_a_case_computes_on_the_stores_threads(tmp_path) -> None:
    seen: list[int] = []

    @pc.register_method("threads-probe", override=True)
    def probe(model: nn.Module, config: pc.NoConfig, ctx: pc.MethodContext) -> nn.Module:
        seen.append(torch.get_num_threads())
        return model

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        store = ModelStore(ModelCache(tmp_path), threads=1)
        run_case(
            store,
            test_id="t",
            model="threads-linear",
            method="threads-probe",
            method_args=None,
            settings=RunSettings(timed=False),
        )
        assert seen == [1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
