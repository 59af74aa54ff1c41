"""Runs one case: the reference (``models.py``) -> compress -> time (``measure/latency.py``) ->
evaluate (``measure/accuracy.py``) -> a ``CaseResult``. Orchestration only.

This is the only place that ties models, methods and measurement together; it imports torch,
so the plugin imports it inside the fixture, never at load time.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
import time
import zlib
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from pytest_compress import fingerprint, isolation, progress
from pytest_compress.measure import timing_lock
from pytest_compress.measure.accuracy import paired_metric, per_example
from pytest_compress.measure.latency import RunSettings, _synced, time_pair, time_workload
from pytest_compress.measure.size import count_parameters, linear_weight_storage
from pytest_compress.models import ModelStore, Reference, torch_threads
from pytest_compress.results import CaseResult, DrawResult, MemoryResult, SizeResult
from pytest_compress.serialize import dense_payload
from pytest_compress.spec import METHODS, Artifact, MethodContext, ModelSpec, all_metrics
from pytest_compress.validate import method_output

__all__ = ["DENSE", "ModelStore", "Reference", "RunSettings", "run_case", "run_draws", "this_machine"]

DENSE = "torch.save(state_dict)"


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
    # torch's and Hugging Face's process-wide settings put back; everything the case computes
    # (training, compression, fine-tuning, evaluation) on the store's fixed thread count, so the
    # results do not depend on the core count or on how many xdist workers share the machine.
    with isolation.kept(), torch_threads(store.threads):
        return _measure(
            store,
            test_id=test_id,
            model=model,
            method=method,
            method_args=method_args,
            settings=settings,
            machine=machine,
        )


def _measure(
    store: ModelStore,
    *,
    test_id: str,
    model: str,
    method: str,
    method_args: Mapping[str, Any] | None,
    settings: RunSettings,
    machine: fingerprint.Fingerprint | None,
) -> CaseResult:
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
        output_layers=spec.output_layers,
        finetune=spec.finetune,
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
    # Timing holds the host's timing lock (measure/timing_lock.py): no other process (an xdist
    # worker, another run) times at the same moment; everything else here runs in parallel.
    lat, extra_latency, lock = None, (), None
    if settings.timed:
        with timing_lock.held() as lock:
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
    memory = _peak_memory(ref, compressed, settings, device, artifact.details) if settings.memory else None
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
            **({"timing_lock": lock.to_dict()} if lock is not None else {}),
        },
        storage=storage,
        method_results=artifact.results,
        memory=memory,
    )


def _peak_memory(
    ref: Reference, compressed: nn.Module, settings: RunSettings, device: str, details: dict[str, Any]
) -> MemoryResult | None:
    """Both models' peak inference memory; None, said in ``details``, where it cannot be measured."""
    from pytest_compress.measure.memory import MemoryUnavailable, measure_pair

    try:
        return measure_pair(ref.timing_module, compressed, ref.spec.example_inputs, settings.device, device)
    except MemoryUnavailable as exc:
        details["memory_note"] = f"peak memory not measured: {exc}"
        return None


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
        extra = dataclasses.replace(settings, draw=d, workloads=False, memory=False)
        out.append(run_case(store, test_id=test_id, settings=extra, machine=machine, **case).as_draw(d))
    return tuple(out)


def _evaluate_primary(spec: ModelSpec, ref: Reference, module: nn.Module) -> float:
    """The primary metric of ``module`` on the model's held-out data (for methods comparing candidates)."""
    outcomes, _ = per_example(
        module, (spec.metric,), *spec.eval_data, spec.eval_batch_size, reference_outputs=ref.outputs
    )
    return spec.metric.value(outcomes[spec.metric.name])


def torch_version() -> str:
    return str(torch.__version__)  # a TorchVersion, not a str: xdist cannot serialise it


def this_machine(threads: int, device: str) -> fingerprint.Fingerprint:
    """The latency-baseline key of this process: CPU, torch, threads, device and kernel set."""
    return fingerprint.current(torch_version(), threads, device, torch.backends.cpu.get_cpu_capability())
