from __future__ import annotations

import functools
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from pytest_compress.cache import CacheWarning, ModelCache, cache_key, tensor_digest
from pytest_compress.formats.container import safetensors_metadata


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


# --- entries that do not load cleanly, and things at a cache path that are not cache files ---

KEY = "k" * 64


def _tamper(path: Path, edit: Callable[[dict[str, torch.Tensor]], None]) -> None:
    """Rewrite an entry's tensors and recompute its digest, so only loading into the module can tell."""
    payload = path.read_bytes()
    tensors = dict(st_load(payload))
    edit(tensors)
    meta = {**safetensors_metadata(payload), "digest": tensor_digest(tensors)}
    path.write_bytes(st_save(tensors, metadata=meta))


TAMPERINGS: dict[str, Callable[[dict[str, torch.Tensor]], None]] = {
    "dropped": lambda t: t.pop("bias"),
    "extra": lambda t: t.__setitem__("extra.weight", torch.zeros(3)),
    "reshaped": lambda t: t.__setitem__("weight", t["weight"].reshape(4, 2).contiguous()),
    "retyped": lambda t: t.__setitem__("weight", t["weight"].double()),
}


@pytest.mark.parametrize("kind", sorted(TAMPERINGS))
def test_an_entry_that_does_not_fit_the_module_is_a_reported_miss(tmp_path: Path, kind: str) -> None:
    cache = ModelCache(tmp_path)
    torch.manual_seed(0)
    path = cache.save("m", KEY, nn.Linear(4, 2).state_dict(), {})
    _tamper(path, TAMPERINGS[kind])
    assert cache.load("m", KEY) is not None  # the digest passes: only the strict load sees it
    module = nn.Linear(4, 2)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    with pytest.warns(CacheWarning, match=r"does not load into the model .*rebuilding") as record:
        assert cache.load_into("m", KEY, module) is False
    assert str(path) in str(record[0].message)
    assert not path.exists()
    # Left exactly as built: a rebuild starts where a run without the entry would.
    assert all(torch.equal(module.state_dict()[k], before[k]) for k in before)


@pytest.mark.parametrize("kind", sorted(TAMPERINGS))
def test_method_trained_weights_that_do_not_fit_are_retrained(tmp_path: Path, kind: str) -> None:
    cache = ModelCache(tmp_path)
    calls = []

    def train(m: nn.Module) -> None:
        calls.append(1)
        with torch.no_grad():
            m.weight.fill_(0.5)

    assert cache.trained("base", "ft", nn.Linear(4, 2), train, {}) == "trained"
    (path,) = (tmp_path / "models").glob("*.safetensors")
    _tamper(path, TAMPERINGS[kind])
    again = nn.Linear(4, 2)
    with pytest.warns(CacheWarning, match="does not load into the model"):
        assert cache.trained("base", "ft", again, train, {}) == "trained"
    assert len(calls) == 2 and torch.all(again.weight == 0.5)
    assert cache.trained("base", "ft", nn.Linear(4, 2), train, {}) == "cache"  # rebuilt entry is good


def _within(seconds: float, fn: Callable[[], Any], unblock: Path | None = None) -> tuple[Any, list[str]]:
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it takes longer than ``seconds``.
    Returns its result and the messages of the warnings it raised."""
    box: dict[str, Any] = {}

    def target() -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                box["result"] = fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
                box["error"] = exc
        box["warnings"] = [str(w.message) for w in caught]

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if unblock is not None:  # give a reader blocked on the FIFO a writer, so the thread ends
            os.close(os.open(unblock, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"blocked for more than {seconds} s")
    if "error" in box:
        raise box["error"]
    return box["result"], box["warnings"]


needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")


@needs_fifo
def test_a_fifo_at_a_cache_path_is_reported_and_replaced_never_read(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path)
    path = cache.path("m", KEY)
    path.parent.mkdir(parents=True)
    os.mkfifo(path)
    result, said = _within(10, lambda: cache.load_into("m", KEY, nn.Linear(4, 2)), unblock=path)
    assert result is False
    assert len(said) == 1 and str(path) in said[0] and "a FIFO" in said[0] and "remove it" in said[0]
    _, said = _within(10, lambda: cache.save("m", KEY, nn.Linear(4, 2).state_dict(), {}), unblock=path)
    assert said == [] and path.is_file()  # the FIFO was swapped for the entry atomically
    assert cache.load("m", KEY) is not None


@needs_fifo
def test_a_symlink_to_a_fifo_does_not_block_either(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path)
    path = cache.path("m", KEY)
    path.parent.mkdir(parents=True)
    os.mkfifo(tmp_path / "fifo")
    path.symlink_to(tmp_path / "fifo")
    result, said = _within(10, lambda: cache.load("m", KEY), unblock=tmp_path / "fifo")
    assert result is None and "a FIFO" in said[0]


@needs_fifo
def test_method_training_with_a_fifo_at_its_path_trains_and_replaces_it(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path)
    train = lambda m: None  # noqa: E731
    cache.trained("base", "ft", nn.Linear(4, 2), train, {})
    (path,) = (tmp_path / "models").glob("*.safetensors")
    path.unlink()
    os.mkfifo(path)
    result, said = _within(10, lambda: cache.trained("base", "ft", nn.Linear(4, 2), train, {}), unblock=path)
    assert result == "trained" and "a FIFO" in said[0] and path.is_file()


def test_a_directory_at_a_cache_path_is_reported_and_left_alone(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path)
    path = cache.path("m", KEY)
    (path / "inside").mkdir(parents=True)
    with pytest.warns(CacheWarning, match="a directory") as record:
        assert cache.load_into("m", KEY, nn.Linear(4, 2)) is False
    assert "remove it" in str(record[0].message)
    with pytest.warns(CacheWarning, match=r"is a directory; not caching m \(remove the directory\)"):
        assert cache.save("m", KEY, nn.Linear(4, 2).state_dict(), {}) == path
    assert (path / "inside").is_dir()  # never removed: it is not the cache's to delete


def test_a_dangling_symlink_is_reported_and_replaced(tmp_path: Path) -> None:
    cache = ModelCache(tmp_path)
    path = cache.path("m", KEY)
    path.parent.mkdir(parents=True)
    path.symlink_to(tmp_path / "gone")
    with pytest.warns(CacheWarning, match="dangling symlink"):
        assert cache.load("m", KEY) is None
    cache.save("m", KEY, nn.Linear(4, 2).state_dict(), {})
    assert path.is_file() and not path.is_symlink()
    assert not (tmp_path / "gone").exists()  # replaced the link, did not write through it


def test_an_unwritable_cache_is_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "models").write_text("a file where the cache folder should be")
    cache = ModelCache(tmp_path)
    with pytest.warns(CacheWarning, match="cannot be used"):
        assert cache.load("m", KEY) is None
    with pytest.warns(CacheWarning, match="cannot be written"):
        cache.save("m", KEY, nn.Linear(4, 2).state_dict(), {})
    with pytest.warns(CacheWarning):
        assert cache.trained("base", "ft", nn.Linear(4, 2), lambda m: None, {}) == "trained"


def _tiny_spec():  # noqa: ANN202 - a registered model for the ModelStore test below
    from pytest_compress.spec import ModelSpec

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(64, 4, generator=g), torch.arange(64) % 2

    def train(model: nn.Module, data: tuple[torch.Tensor, ...]) -> None:
        with torch.no_grad():
            model[0].weight.add_(1.0)

    return ModelSpec(
        build=lambda: nn.Sequential(nn.Linear(4, 2)),
        train=train,
        train_data=(x, y),
        eval_data=(x, y),
        example_inputs=(x[:1],),
    )


@pytest.mark.parametrize("kind", sorted(TAMPERINGS))
def test_the_reference_is_retrained_when_its_entry_does_not_fit(tmp_path: Path, kind: str) -> None:
    from pytest_compress.models import ModelStore
    from pytest_compress.spec import MODELS

    name = "test-cache-tiny"
    if name not in MODELS:
        MODELS.add(name, _tiny_spec)
    first = ModelStore(ModelCache(tmp_path)).get(name)
    assert first.source == "trained"
    (path,) = (tmp_path / "models").glob("*.safetensors")
    _tamper(path, lambda t: _rename_for_sequential(t, TAMPERINGS[kind]))
    with pytest.warns(CacheWarning, match=r"does not load into the model"):
        again = ModelStore(ModelCache(tmp_path)).get(name)
    assert again.source == "trained" and again.digest == first.digest  # same weights as a clean run
    assert ModelStore(ModelCache(tmp_path)).get(name).source == "cache"


def _rename_for_sequential(tensors: dict[str, torch.Tensor], edit: Callable[[dict[str, torch.Tensor]], None]) -> None:
    """Apply a tampering written for ``nn.Linear`` names to an ``nn.Sequential(nn.Linear)`` entry."""
    plain = {k.removeprefix("0."): v for k, v in tensors.items()}
    edit(plain)
    tensors.clear()
    tensors.update({(k if k.startswith("extra") else f"0.{k}"): v for k, v in plain.items()})


def _build_in_child(root: str, log: str, delay: float) -> None:
    """One process's ``trained``: append "train" to ``log`` when it really trains."""
    import time as _time

    def train(module: nn.Module) -> None:
        with open(log, "a") as f:
            f.write("train\n")
        _time.sleep(delay)  # a slow training: the other process arrives meanwhile
        with torch.no_grad():
            module.weight.fill_(3.0)

    torch.manual_seed(0)
    module = nn.Linear(4, 2)
    source = ModelCache(Path(root)).trained("base", "shared", module, train, {"k": 1})
    assert float(module.weight[0, 0]) == 3.0  # trained or loaded, the same weights
    with open(log, "a") as f:
        f.write(source + "\n")


def test_processes_sharing_a_cache_train_an_entry_once(tmp_path: Path) -> None:
    """Two xdist workers (or two runs) missing the same entry: one trains, the other waits on the
    entry's lock and then loads what was saved."""
    import multiprocessing

    log = tmp_path / "log"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_build_in_child, args=(str(tmp_path), str(log), 2.0)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    lines = log.read_text().split()
    assert lines.count("train") == 1 and sorted(lines) == ["cache", "train", "trained"]


def test_an_unlockable_cache_still_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import filelock

    def refuse(self: Any, *a: Any, **k: Any) -> None:
        raise PermissionError("read-only")

    monkeypatch.setattr(filelock.FileLock, "acquire", refuse)
    module = nn.Linear(4, 2)
    with pytest.warns(CacheWarning, match="cannot be taken"):
        assert ModelCache(tmp_path).trained("base", "x", module, lambda m: None, {}) == "trained"
