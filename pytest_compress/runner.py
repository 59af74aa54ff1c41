"""Runs one case: prepare the reference (trained once, cached), compress, measure.

This is the only place that ties models, methods and measurement together; it imports torch,
so the plugin imports it inside the fixture, never at load time.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import time
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from pytest_compress import fingerprint, progress
from pytest_compress.cache import ModelCache, cache_key, tensor_digest
from pytest_compress.measure import latency as latency_mod
from pytest_compress.measure.accuracy import paired_metric, per_example
from pytest_compress.measure.size import count_parameters, linear_weight_storage
from pytest_compress.results import CaseResult, DrawResult, LatencyResult, SizeResult
from pytest_compress.serialize import dense_payload
from pytest_compress.spec import METHODS, MODELS, Artifact, MethodContext, Metric, ModelSpec, SpecError
from pytest_compress.validate import built_module, method_output

DENSE = "torch.save(state_dict)"


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


@dataclass(frozen=True)
class RunSettings:
    threads: int = 1
    device: str = "cpu"
    latency_budget_s: float = 3.0
    latency_min_pairs: int = 10
    latency_target_width: float = 0.10
    latency_looks: int = 4  # planned looks of the group-sequential stop rule (measure/latency.py)
    confidence: float = 0.99
    # Speedup limits the gates will compare against (min_speedup, baseline floor): timing stops
    # early once its interval is clear of all of them.
    latency_limits: tuple[float, ...] = ()
    seed: int = 0
    # Which independent draw of the reference (and of any training a method does) this case uses:
    # 0 is the one every run measures; 1.. are the extra draws a baseline refresh records to learn
    # how much results spread when the reference is retrained (see spread.py).
    draw: int = 0
    # Time the forward, and the model's extra workloads (a baseline refresh's extra draws time
    # only the forward: its run-to-run spread is what the latency baseline records).
    timed: bool = True
    workloads: bool = True


# Draw d initialises the reference from seed + DRAW_SEED_STRIDE * d: far from any seed a model
# author would pick for draw 0.
DRAW_SEED_STRIDE = 1009


@dataclass
class ModelStore:
    """Trained reference models, one per (name, draw) per process; weights come from the cache when valid."""

    cache: ModelCache
    device: str = "cpu"
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
        try:
            spec = MODELS.get(name)()
        except SpecError as exc:  # a ModelSpec field: say which model
            raise SpecError(f"model {name!r}: {exc}") from None
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
                settings=dict(spec.settings) | ({"draw": draw} if draw else {}),
                train_data=spec.train_data,
            )
            # A cache entry that does not load cleanly into this module is a miss: reported and retrained.
            if self.cache.load_into(name, key, module):
                source = "cache"
            else:
                progress.report(f"training {label} (no valid cache entry) ...")
                start = time.perf_counter()
                torch.manual_seed(seed)
                spec.train(module, spec.train_data)
                seconds = time.perf_counter() - start
                path = self.cache.save(name, key, module.state_dict(), {"settings": repr(dict(spec.settings))})
                progress.report(f"trained {label} in {seconds:.1f} s -> {path}")
                source = "trained"
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
            digest=reference_digest(module, data),
            data_digest=data,
            draw=draw,
        )


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


def reference_digest(module: nn.Module, data_sha256: str) -> str:
    """sha256 of the reference's weights and its data digest: equal digests mean a case compressed
    and scored exactly the same inputs."""
    weights = tensor_digest(dict(module.state_dict()))
    return hashlib.sha256(f"{weights}|{data_sha256}".encode()).hexdigest()


def all_metrics(spec: ModelSpec) -> tuple[Metric, ...]:
    return (spec.metric, *spec.extra_metrics)


def _is_cpu_only(module: nn.Module) -> bool:
    return any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in module.modules())


def run_case(
    store: ModelStore,
    *,
    test_id: str,
    model: str,
    method: str,
    method_args: Mapping[str, Any] | None,
    settings: RunSettings,
    machine: fingerprint.Fingerprint | None = None,
) -> CaseResult:
    """Measure one case. ``machine`` is the fingerprint the caller already computed, if any."""
    ref = store.get(model, settings.draw)
    spec = ref.spec
    m = METHODS.get(method)
    config = m.make_config(method_args)
    ctx = MethodContext(
        example_inputs=spec.example_inputs,
        calib_data=spec.calib_data
        if spec.calib_data is not None
        else (spec.train_data[0][:256] if spec.train_data is not None else spec.eval_data[0][:256]),
        train_data=spec.train_data,
        seed=settings.seed + settings.draw,
        student=spec.student,
        evaluate=functools.partial(_evaluate_primary, spec, ref),
        train_cache=functools.partial(store.cache.trained, ref.key) if ref.key else None,
        keep_float=spec.keep_float,
    )
    torch.manual_seed(settings.seed)
    work = copy.deepcopy(ref.module).cpu()
    start = time.perf_counter()
    out = method_output(method, m.apply(work, config, ctx))
    compress_s = time.perf_counter() - start
    artifact = out if isinstance(out, Artifact) else Artifact(module=out, payload=dense_payload(out), encoding=DENSE)
    storage = linear_weight_storage(ref.module, artifact.payload, artifact.encoding, spec.keep_float)
    compressed = artifact.module.eval()
    device = settings.device
    if device != "cpu" and _is_cpu_only(compressed):
        device = "cpu"  # torch.ao quantized kernels exist only on the CPU; said in the details
        artifact.details["device_note"] = "compressed model runs on cpu: torch.ao quantized kernels are CPU-only"
    compressed.to(device)
    # Time before evaluating. torch.ao's x86 quantized kernels keep state from their first call:
    # measured here, a ResNet-18 int8 model first run on a batch of 256 then ran batch-1 inference
    # at 4.2 ms instead of 1.9 ms. Deployment runs batch-1 from the start, so timing does too.
    lat, extra_latency = None, ()
    if settings.timed:
        lat = time_pair(ref.timing_module, compressed, spec.example_inputs, settings, settings.device, device)
        lat = dataclasses.replace(lat, workload=spec.forward_name)
        extra_latency = tuple(
            time_workload(
                name, _synced(make(ref.timing_module), settings.device), _synced(make(compressed), device), settings
            )
            for name, make in (spec.workloads.items() if settings.workloads else ())
        )
    metrics = all_metrics(spec)
    outcomes, _ = per_example(
        compressed, metrics, *spec.eval_data, spec.eval_batch_size, device, reference_outputs=ref.outputs
    )
    params = count_parameters(compressed)
    seed = zlib.crc32(test_id.encode())
    results = [paired_metric(m, ref.outcomes[m.name], outcomes[m.name], settings.confidence, seed) for m in metrics]
    metric = results[0]
    size = SizeResult(
        reference_bytes=ref.payload_bytes,
        compressed_bytes=len(artifact.payload),
        reference_params=ref.params[0],
        compressed_params=params[0],
        reference_nonzero=ref.params[1],
        compressed_nonzero=params[1],
        encoding=artifact.encoding,
    )
    return CaseResult(
        test_id=test_id,
        model=model,
        method=method,
        method_config=config.to_dict(),
        method_label=f"{method}({config.label()})" if config.label() else method,
        size=size,
        metric=metric,
        latency=lat,
        extra_metrics=tuple(results[1:]),
        extra_latency=extra_latency,
        model_source=ref.source,
        artifact_sha256=hashlib.sha256(artifact.payload).hexdigest(),
        reference_sha256=ref.digest,
        eval_sha256=ref.data_digest,
        fingerprint=(machine or this_machine(settings.threads, settings.device)).to_dict(),
        details={
            **artifact.details,
            "compress_seconds": round(compress_s, 3),
            "train_seconds": round(ref.train_seconds, 1),
        },
        storage=storage,
        method_results=artifact.results,
    )


def run_draws(
    store: ModelStore,
    draws: int,
    *,
    test_id: str,
    settings: RunSettings,
    machine: fingerprint.Fingerprint | None = None,
    **case: Any,
) -> tuple[DrawResult, ...]:
    """Draws 1..draws-1 of a case for a baseline's spread: each on its own retrained reference
    (and reseeded method training), timed too (the forward only), so the baseline learns the
    run-to-run spread of the speedup as well."""
    out = []
    for d in range(1, draws):
        progress.report(f"{test_id}: draw {d + 1}/{draws} for the baseline's spread")
        extra = dataclasses.replace(settings, draw=d, workloads=False)
        out.append(run_case(store, test_id=test_id, settings=extra, machine=machine, **case).as_draw(d))
    return tuple(out)


def _synced(call: Callable[[], object], device: str) -> Callable[[], object]:
    """``call`` followed by a device synchronisation, so GPU work is timed, not just launched."""
    if "cuda" not in device:
        return call

    def run() -> None:
        call()
        torch.cuda.synchronize()

    return run


def _evaluate_primary(spec: ModelSpec, ref: Reference, module: nn.Module) -> float:
    """The primary metric of ``module`` on the model's held-out data (for methods comparing candidates)."""
    outcomes, _ = per_example(
        module, (spec.metric,), *spec.eval_data, spec.eval_batch_size, reference_outputs=ref.outputs
    )
    return spec.metric.value(outcomes[spec.metric.name])


def clear_of(limits: tuple[float, ...]):  # noqa: ANN201
    """A stop rule: the interval already lies on one side of every limit, so more samples can't
    change any gate's decision."""
    if not limits:
        return None
    return lambda ci: all(ci[0] > x or ci[1] < x for x in limits)


def torch_version() -> str:
    return str(torch.__version__)  # a TorchVersion, not a str: xdist cannot serialise it


def this_machine(threads: int, device: str) -> fingerprint.Fingerprint:
    """The latency-baseline key of this process: CPU, torch, threads, device and kernel set."""
    return fingerprint.current(torch_version(), threads, device, torch.backends.cpu.get_cpu_capability())


def time_pair(
    reference: nn.Module,
    compressed: nn.Module,
    inputs: tuple[torch.Tensor, ...],
    settings: RunSettings,
    ref_device: str,
    cmp_device: str,
) -> LatencyResult:
    """One forward over ``inputs``, reference vs compressed."""
    ref_in = tuple(t.to(ref_device) for t in inputs)
    cmp_in = tuple(t.to(cmp_device) for t in inputs)
    sync = torch.cuda.synchronize if "cuda" in (ref_device + cmp_device) else (lambda: None)

    def run_ref() -> None:
        reference(*ref_in)
        sync()

    def run_cmp() -> None:
        compressed(*cmp_in)
        sync()

    return time_workload("forward", run_ref, run_cmp, settings)


def time_workload(
    name: str, run_ref: Callable[[], object], run_cmp: Callable[[], object], settings: RunSettings
) -> LatencyResult:
    """Interleaved timing of two zero-argument calls, under the run's thread count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        # Warnings are off while timing, as a precaution: pytest records warnings raised inside a
        # test, and torch.ao's quantized ops can warn on every forward; that bookkeeping must not
        # be timed. (Not measured to matter on its own; evaluation, right after, runs with
        # warnings on, so nothing is hidden from the user.)
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = latency_mod.interleaved(
                run_ref,
                run_cmp,
                budget_s=settings.latency_budget_s,
                min_pairs=settings.latency_min_pairs,
                target_rel_width=settings.latency_target_width,
                confidence=settings.confidence,
                decided=clear_of(settings.latency_limits),
                looks=settings.latency_looks,
            )
    finally:
        torch.set_num_threads(previous)
    return LatencyResult(
        reference_ms=t.reference_ms,
        compressed_ms=t.compressed_ms,
        speedup=t.speedup,
        speedup_ci=t.speedup_ci,
        pairs=len(t.ratios),
        calls_per_sample=t.calls_per_sample,
        threads=settings.threads,
        ratios=t.ratios,
        workload=name,
    )
