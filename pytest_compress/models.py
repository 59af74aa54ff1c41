"""Reference models: built, trained once (weights cached), evaluated and digested, one per
(name, draw) per process. Imports torch: the plugin reaches it only through the fixture.
"""

from __future__ import annotations

import copy
import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import torch
from torch import nn

from pytest_compress import progress
from pytest_compress.cache import ModelCache, cache_key, tensor_digest
from pytest_compress.measure.accuracy import per_example
from pytest_compress.measure.size import count_parameters
from pytest_compress.serialize import dense_payload
from pytest_compress.spec import MODELS, ModelSpec, SpecError, all_metrics
from pytest_compress.validate import built_module


@dataclass
class Reference:
    name: str
    spec: ModelSpec
    module: nn.Module
    timing_module: nn.Module  # an untouched copy: see run_case on why timing needs one
    source: str  # "cache" | "trained" | "built"
    outcomes: dict[str, tuple[float, ...]]  # per metric name
    # Eval outputs, batch by batch, kept only when a metric scores against the reference.
    outputs: list[torch.Tensor] | None
    payload_bytes: int
    params: tuple[int, int]
    train_seconds: float = 0.0
    key: str = ""  # cache key of the trained weights ("" for untrained models)
    # sha256 of what a case compresses and scores against: the weights plus the eval and example
    # inputs. Baselines compare tightly only when it is unchanged (see baseline_gates).
    digest: str = ""
    data_digest: str = ""  # the eval data and example inputs alone
    draw: int = 0


# Draw d initialises the reference from seed + DRAW_SEED_STRIDE * d: far from any seed a model
# author would pick for draw 0.
DRAW_SEED_STRIDE = 1009


@dataclass
class ModelStore:
    """Trained reference models, one per (name, draw) per process; weights come from the cache when valid."""

    cache: ModelCache
    device: str = "cpu"
    # Torch threads for training (and, through run_case, for everything a case computes). Part of
    # the cache key: the thread count changes how reductions split, so 1 and 2 threads train
    # different weights (digits-cnn: digests f40b16f950ab vs 6f0fce0e4047). Fixed by configuration,
    # never by the core count or by how many xdist workers share the machine.
    threads: int = 1
    _refs: dict[tuple[str, int], Reference | BaseException] = field(default_factory=dict)

    def get(self, name: str, draw: int = 0) -> Reference:
        if (name, draw) not in self._refs:
            try:
                self._refs[name, draw] = self._prepare(name, draw)
            except Exception as exc:
                # Remember the failure: every other case of this model would otherwise retrain it.
                self._refs[name, draw] = exc
                raise
        ref = self._refs[name, draw]
        if isinstance(ref, BaseException):
            raise RuntimeError(f"model {name!r} failed to build earlier in this run: {ref!r}") from ref
        return ref

    def _prepare(self, name: str, draw: int = 0) -> Reference:
        making = _Making(self, draw)
        token = _MAKING.set(making)
        try:
            spec = MODELS.get(name)()
        except SpecError as exc:  # a ModelSpec field: say which model
            raise SpecError(f"model {name!r}: {exc}") from None
        finally:
            _MAKING.reset(token)
        if not isinstance(spec, ModelSpec):
            got = type(spec).__name__
            raise SpecError(f"model {name!r}: its registered function returned {got}, expected a pc.ModelSpec")
        seed = int(spec.settings.get("seed", 0)) + DRAW_SEED_STRIDE * draw
        torch.manual_seed(seed)
        module = built_module(name, spec.build())
        source, seconds, key = "built", 0.0, ""
        label = name if draw == 0 else f"{name} (draw {draw})"
        if spec.train is not None:
            key = cache_key(
                module,
                build=spec.build,
                train=spec.train,
                # Draw 0 keeps the key it always had; other draws are other models.
                settings=dict(spec.settings) | {"torch_threads": self.threads} | ({"draw": draw} if draw else {}),
                train_data=spec.train_data,
            )
            # A cache entry that does not load cleanly into this module is a miss: reported and retrained
            # (once, by whichever process sharing the cache gets there first).
            trained: list[float] = []

            def build() -> None:
                with progress.step(f"train {label}"):  # on a TTY: one line, counting up
                    progress.report(f"training {label} (no valid cache entry) ...")
                    start = time.perf_counter()
                    torch.manual_seed(seed)
                    with torch_threads(self.threads):
                        spec.train(module, spec.train_data)
                    trained.append(time.perf_counter() - start)
                    path = self.cache.save(name, key, module.state_dict(), {"settings": repr(dict(spec.settings))})
                    progress.report(f"trained {label} in {trained[0]:.1f} s -> {path}")

            if self.cache.load_or_build(name, key, module, build):
                source = "cache"
            else:
                source, seconds = "trained", trained[0]
        module.eval().to(self.device)
        data = data_digest(spec)
        timing_module = copy.deepcopy(module)
        metrics = all_metrics(spec)
        outcomes, outputs = per_example(
            module,
            metrics,
            *spec.eval_data,
            spec.eval_batch_size,
            self.device,
            keep_outputs=any(m.against == "reference" for m in metrics),
        )
        return Reference(
            name=name,
            spec=spec,
            module=module,
            timing_module=timing_module,
            source=source,
            outcomes=outcomes,
            outputs=outputs,
            key=key,
            payload_bytes=len(dense_payload(module)),
            params=count_parameters(module),
            train_seconds=seconds,
            digest=reference_digest(module, data, making.judges),
            data_digest=data,
            draw=draw,
        )


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block on ``n`` torch threads, then put the previous count back."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class _Making:
    """The store and draw a model's spec is being made for, and the other references it used."""

    store: ModelStore
    draw: int
    judges: dict[str, str] = field(default_factory=dict)  # name -> reference digest


# Lets a spec measure with another model (``trained_reference``).
_MAKING: ContextVar[_Making | None] = ContextVar("pytest_compress_making", default=None)


def trained_reference(name: str) -> nn.Module:
    """The trained reference of another registered model, for a spec that measures with it (the
    generative models score their samples with the ``digits-cnn`` classifier). Only while the
    plugin makes a spec; the same draw as the model being made, because a machine that retrains
    one retrains both. Treat the module as read-only: it is that model's reference."""
    making = _MAKING.get()
    if making is None:
        raise RuntimeError(f"trained_reference({name!r}) is only available while the plugin makes a ModelSpec")
    ref = making.store.get(name, making.draw)
    making.judges[name] = ref.digest
    return ref.module


def data_digest(spec: ModelSpec) -> str:
    """sha256 of the eval data and example inputs: what every case of the model is scored and timed on."""
    tensors: dict[str, torch.Tensor] = {}
    for group, items in (("eval", spec.eval_data), ("example", spec.example_inputs)):
        for i, item in enumerate(items):
            if isinstance(item, torch.Tensor):
                tensors[f"{group}.{i}"] = item
            else:  # e.g. a list of variable-length tensors
                for j, t in enumerate(item):
                    tensors[f"{group}.{i}.{j}"] = torch.as_tensor(t)
    return tensor_digest(tensors)


def reference_digest(module: nn.Module, data_sha256: str, judges: dict[str, str] | None = None) -> str:
    """sha256 of the reference's weights and its data digest, and of the digests of any other
    references its metrics score with (``trained_reference``: the generative models' classifier):
    equal digests mean a case compressed and was scored by exactly the same inputs. A retrained
    judge scores the same samples differently, so it must change the digest like retrained weights."""
    weights = tensor_digest(dict(module.state_dict()))
    text = f"{weights}|{data_sha256}"
    if judges:  # models without a judge keep the digest they always had
        text += "|judges:" + ",".join(f"{name}={digest}" for name, digest in sorted(judges.items()))
    return hashlib.sha256(text.encode()).hexdigest()
