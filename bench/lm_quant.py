"""What weight-only quantization and quantize-then-LoRA do to the stdlib LM (a benchmark, not a test).

For the suite's own trained ``stdlib-lm`` (pytest_compress/zoo/text.py) and methods, via
pytest_compress.runner.run_case: bytes of the decoder's Linear weights (the quantized layers;
the output head and the embeddings stay float32 and are in "artifact" only), bits per weight,
held-out perplexity with its paired 99% interval, KL and top-1 agreement against the fp32
model, and in-run prefill/decode speed ratios (1 thread). Target from the issue: int4 >= 6x
smaller Linear weights with perplexity within +5% of fp32. Then the LoRA recovery (adapters
trained on the quantized base vs the same adapters trained on the float base) and, for the
pruning criteria, magnitude vs Wanda at 50% and 2:4.

Usage: python bench/lm_quant.py [--out reports/lm_quant.md]
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file (python bench/x.py): make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import emit, setup  # noqa: E402
from pytest_compress.measure.latency import RunSettings
from pytest_compress.results import AdapterResult
from pytest_compress.runner import run_case
from pytest_compress.units import fmt_bytes
from pytest_compress.zoo.text import DECODE_TOKENS

LM = "stdlib-lm"
QUANT = [
    ("int8-weight-only", {}),
    ("int4-weight-only", {"group_size": 128}),
    ("int4-weight-only", {"group_size": 64}),
    ("int4-weight-only", {"group_size": 32}),
]
LORA = [("quantize-lora", {"bits": 4}), ("quantize-lora", {"bits": 8})]
PRUNE = [
    ("prune-unstructured", {"sparsity": 0.5, "criterion": "magnitude", "layers": ("Linear",)}),
    ("prune-unstructured", {"sparsity": 0.5, "criterion": "wanda", "layers": ("Linear",)}),
    ("prune-semistructured", {"criterion": "magnitude"}),
    ("prune-semistructured", {"criterion": "wanda"}),
]


def _ppl(m) -> str:  # noqa: ANN001
    return (
        f"{m.compressed:.4f} ({m.relative_drop:+.2%}) [{m.drop_ci[0] / m.reference:+.2%}, "
        f"{m.drop_ci[1] / m.reference:+.2%}]"
    )


def _extras(r) -> tuple[str, str, str, str]:  # noqa: ANN001
    ex = {m.name: m.compressed for m in r.extra_metrics}
    lat = {t.workload: t for t in (r.latency, *r.extra_latency)}
    prefill = next(v for k, v in lat.items() if k.startswith("prefill"))
    decode = lat[f"decode-{DECODE_TOKENS}"]
    # One decode call = a 32-byte prompt + DECODE_TOKENS greedy steps; tokens/s counts the steps.
    tps = f"{DECODE_TOKENS / decode.reference_ms * 1e3:.0f} -> {DECODE_TOKENS / decode.compressed_ms * 1e3:.0f} tok/s"
    return f"{ex['kl']:.4f}", f"{ex['top1-agree']:.2%}", f"{prefill.speedup:.2f}x", f"{decode.speedup:.2f}x ({tps})"


def aten_int4_matmul_line() -> str:
    """aten's CPU int4 matmul (``_weight_int4pack_mm_for_cpu``, group 64) vs float32 ``F.linear``
    on one LM-sized layer (16 x 256 inputs, 512 outputs), 1 thread, interleaved like every timing."""
    import torch
    import torch.nn.functional as F

    from pytest_compress.measure.latency import interleaved

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x, w = torch.randn(16, 256), torch.randn(512, 256)
        codes = torch.randint(0, 16, (512, 256), dtype=torch.int32)
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes, 2)
        scales_and_zeros = torch.randn(256 // 64, 512, 2)
        with torch.inference_mode():
            t = interleaved(
                lambda: F.linear(x, w),
                lambda: torch.ops.aten._weight_int4pack_mm_for_cpu(x, packed, 64, scales_and_zeros),
                budget_s=3.0,
                confidence=0.99,
            )
    finally:
        torch.set_num_threads(previous)
    lo, hi = t.speedup_ci
    return (
        f"aten's CPU int4 matmul vs float32 on one 256 -> 512 layer (16 rows, 1 thread): "
        f"{t.compressed_ms:.3f} ms vs {t.reference_ms:.3f} ms, i.e. {1 / t.speedup:.0f}x slower "
        f"[99% CI {1 / hi:.0f}x, {1 / lo:.0f}x] — why int4 here runs through torchao's dequantize-then-matmul."
    )


def main() -> None:
    args, store = setup("LM weight-only quantization / LoRA benchmark")
    settings = RunSettings(threads=1, latency_budget_s=2.0)

    def run(method: str, margs: dict):  # noqa: ANN202
        r = run_case(
            store, test_id=f"bench::{method}{margs}", model=LM, method=method, method_args=margs, settings=settings
        )
        print(f"{r.method_label}: done", file=sys.stderr, flush=True)
        return r

    ref = store.get(LM)
    ref_ppl = ref.spec.metric.value(ref.outcomes[ref.spec.metric.name])
    linear_fp32 = None
    lines = [
        f"`python bench/lm_quant.py` — {LM}: held-out perplexity per byte of the fp32 model {ref_ppl:.4f}; "
        "perplexity change with its paired 99% interval; speed = in-run ratio vs fp32 (>1 is faster), 1 thread.",
        "",
        "| method | Linear weights | bits/weight | Linear smaller | artifact | perplexity (change) [99% CI] "
        "| KL (nats) | top-1 agree | prefill | decode-16 (tokens/s) | int4 target met? |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for method, margs in QUANT:
        r = run(method, margs)
        d = r.storage
        assert d is not None, f"{r.method_label}: its payload format gave no Linear-weight accounting"
        linear_fp32 = d.linear_weight_reference_bytes
        smaller = d.linear_weight_reference_bytes / d.linear_weight_bytes
        target = "-"
        if method == "int4-weight-only":
            target = "yes" if smaller >= 6 and r.metric.relative_drop <= 0.05 else "NO"
        lines.append(
            f"| {r.method_label} | {fmt_bytes(d.linear_weight_bytes)} | {d.bits_per_weight:.3f} "
            f"| {smaller:.2f}x | {fmt_bytes(r.size.compressed_bytes)} | {_ppl(r.metric)} | "
            + " | ".join(_extras(r))
            + f" | {target} |"
        )
    if linear_fp32 is not None:
        lines.insert(
            4,
            f"| fp32 (reference) | {fmt_bytes(linear_fp32)} | 32 | 1.00x | {fmt_bytes(ref.payload_bytes)} "
            f"| {ref_ppl:.4f} | 0 | 100% | 1.00x | 1.00x | - |",
        )
    lines += [
        "",
        "Quantize-then-LoRA (rank 8 on every quantized Linear, 60 steps of 16x128 bytes; control = the same "
        "adapters trained the same way on the fp32 base):",
        "",
        "| method | perplexity: fp32 | quantized | quantized + LoRA | fp32 + LoRA (control) | recovered "
        "| adapters | artifact |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for method, margs in LORA:
        r = run(method, margs)
        a = r.method_result(AdapterResult)
        assert a is not None
        rec = "-" if a.recovered_fraction is None else f"{a.recovered_fraction:.0%}"
        lines.append(
            f"| {r.method_label} | {a.reference_metric:.4f} | {a.quantized_metric:.4f} | {a.lora_metric:.4f} "
            f"| {a.control_metric:.4f} | {rec} | {fmt_bytes(a.adapter_bytes)} "
            f"({a.adapter_params:,} params) | {fmt_bytes(r.size.compressed_bytes)} |"
        )
    lines += [
        "",
        "Pruning criteria at 50% of the decoder's Linear weights, no fine-tuning:",
        "",
        "| method | perplexity (change) [99% CI] | KL (nats) | top-1 agree |",
        "|---|---|---|---|",
    ]
    for method, margs in PRUNE:
        r = run(method, margs)
        kl, top1, _, _ = _extras(r)
        lines.append(f"| {r.method_label} | {_ppl(r.metric)} | {kl} | {top1} |")
    lines += ["", aten_int4_matmul_line()]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
