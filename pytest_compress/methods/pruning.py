"""Pruning family: unstructured (global magnitude, or Wanda) and N:M semi-structured, made permanent.

Criteria:

- ``magnitude`` (unstructured): one global threshold on |W| over all chosen layers.
- ``wanda`` (Sun et al., 2023, "A Simple and Effective Pruning Approach for Large Language
  Models"): score ``|W_ij| * ||X_j||_2``, where ``||X_j||`` is the L2 norm of input feature j over
  every token of a calibration set (collected with forward hooks), compared *within each output
  row* as the paper does. Written here: no installed library implements it for plain modules.
- Recurrent layers (``GRU``, ``LSTM``, ``RNN``, in the default layer set): every gate matrix
  (``weight_ih_l*``, ``weight_hh_l*``, ``weight_hr_l*``, ``*_reverse``) is a plain parameter
  pruned in place like a Linear weight; biases are not pruned.
- N:M (``prune-semistructured``, 2:4 by default): in every group of M consecutive input weights
  of a row keep the N with the highest score (magnitude or Wanda). torch's 2:4 sparse kernels
  (``to_sparse_semi_structured``) are CUDA-only, so on this CPU the zeros are written into the
  dense weights and shipped with the sparse-bitmap encoding — for 2:4 its 1 bit per weight costs
  exactly what 2-bit in-group indices per kept weight would.

The global threshold is found with ``torch.kthvalue`` and the zeros are written into the
weights directly, so no mask or hook survives. (``torch.nn.utils.prune.global_unstructured``
does the same with ``topk``, measured here at 1.4 s vs 0.2 s per ResNet-18-sized call — it
was a third of the suite's warm run.) The shipped bytes are the sparse-bitmap encoding
(:mod:`pytest_compress.formats.sparse`) — on a dense CPU kernel the zeros buy no speed, and the
report shows that.

What is reported (a :class:`~pytest_compress.results.SparsityResult`): ``weight_sparsity`` is the
zeros over *all* the model's weights (:func:`~pytest_compress.measure.size.count_weights`: every
matrix, kernel and embedding table), ``pruned_sparsity`` the zeros over the tensors this method
pruned, and ``left_out`` names every weight tensor it did not touch (an embedding, a layer kept in
float, an indivisible Linear for N:M), so 50% of a Linear head is never reported as a half-sparse
model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from pytest_compress.formats import SPARSE_BITMAP
from pytest_compress.formats.sparse import SPARSE_BITMAP_FORMAT
from pytest_compress.measure.size import count_weights, left_out_weights
from pytest_compress.results import SparsityResult
from pytest_compress.spec import Artifact, MethodConfig, MethodContext, NotApplicable, register_method

_PRUNABLE = {
    "Linear": nn.Linear,
    "Conv2d": nn.Conv2d,
    "Conv1d": nn.Conv1d,
    "MultiheadAttention": nn.MultiheadAttention,
    "GRU": nn.GRU,
    "LSTM": nn.LSTM,
    "RNN": nn.RNN,
}


@dataclass(frozen=True)
class UnstructuredConfig(MethodConfig):
    label_fields = ("sparsity",)
    sparsity: float = 0.5
    layers: tuple[str, ...] = ("Conv1d", "Conv2d", "Linear", "MultiheadAttention", "GRU", "LSTM", "RNN")
    criterion: str = "magnitude"

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        if not 0.0 <= self.sparsity < 1.0:
            raise ValueError(f"prune-unstructured: sparsity must be in [0, 1), got {self.sparsity}")
        if self.criterion not in CRITERIA:
            raise ValueError(f"prune-unstructured: criterion must be one of {CRITERIA}, got {self.criterion!r}")
        bad = [x for x in self.layers if x not in _PRUNABLE]
        if bad or not self.layers:
            raise ValueError(f"prune-unstructured: layers must be a non-empty subset of {sorted(_PRUNABLE)}, got {bad}")


CRITERIA = ("magnitude", "wanda")


def prunable_weights(
    model: nn.Module, layers: tuple[str, ...], keep_float: tuple[str, ...] = ()
) -> list[tuple[nn.Module, str]]:
    """(module, parameter name) of every weight matrix of the chosen layer types, except modules
    named in ``keep_float``.

    nn.MultiheadAttention keeps its fused q/k/v projection as a bare ``in_proj_weight``
    parameter, not an nn.Linear — without it a transformer's attention would never be pruned.
    A GRU/LSTM/RNN has one ``weight_*`` matrix per layer, direction and gate group.
    """
    kinds = tuple(_PRUNABLE[x] for x in layers)
    found = []
    for name, m in model.named_modules():
        if not isinstance(m, kinds) or name in keep_float:
            continue
        if isinstance(m, nn.MultiheadAttention):  # fused, or separate q/k/v when kdim/vdim differ
            names = ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight")
            found.extend((m, n) for n in names if getattr(m, n, None) is not None)
        elif isinstance(m, nn.RNNBase):
            found.extend((m, n) for n, _ in m.named_parameters(recurse=False) if n.startswith("weight_"))
        else:
            found.append((m, "weight"))
    return found


def describe(modules: list[tuple[str, nn.Module]]) -> str:
    """``"GRU (rnn), Conv2d (features.0, features.3)"``: layer types, each with its module names."""
    by_type: dict[str, list[str]] = {}
    for name, m in modules:
        by_type.setdefault(type(m).__name__, []).append(name or "<root>")
    return ", ".join(f"{t} ({', '.join(names)})" for t, names in by_type.items())


def _weight_holders(model: nn.Module) -> str:
    return describe([(n, m) for n, m in model.named_modules() if any(p.dim() >= 2 for p in m.parameters(False))])


@register_method("prune-unstructured", config=UnstructuredConfig)
def prune_unstructured(model: nn.Module, config: UnstructuredConfig, ctx: MethodContext) -> Artifact:
    """Pruning to an exact sparsity of the chosen layer types' weights: one global magnitude
    threshold, or Wanda scores compared within each output row."""
    targets = prunable_weights(model, config.layers, ctx.keep_float)
    if not targets:
        raise NotApplicable(
            f"prune-unstructured: no {', '.join(config.layers)} layer to prune"
            f"{' outside keep_float' if ctx.keep_float else ''}; the model's weights sit in {_weight_holders(model)}"
        )
    weights = [getattr(m, n) for m, n in targets]
    if config.criterion == "magnitude":
        masks = global_magnitude_masks(weights, config.sparsity)
    else:
        scores = wanda_scores(model, targets, ctx)
        masks = [row_masks(s, config.sparsity) for s in scores]
    return _made_permanent(model, targets, masks, config.criterion)


def _made_permanent(  # noqa: ANN202
    model: nn.Module, targets: list[tuple[nn.Module, str]], masks: list[torch.Tensor], criterion: str
):
    weights = [getattr(m, n) for m, n in targets]
    with torch.no_grad():
        for w, keep in zip(weights, masks, strict=True):
            w.mul_(keep)
    pruned_zeros = sum(int(w.numel() - torch.count_nonzero(w)) for w in weights)
    pruned_total = sum(w.numel() for w in weights)
    total, nonzero = count_weights(model)
    return Artifact(
        module=model,
        payload=SPARSE_BITMAP_FORMAT.encode(model.state_dict()),
        encoding=SPARSE_BITMAP,
        results=(
            SparsityResult(
                # zeros over every weight of the model, and over the tensors pruned; left_out
                # says which weights the first counts that the second does not
                weight_sparsity=round((total - nonzero) / total, 6),
                pruned_sparsity=round(pruned_zeros / pruned_total, 6),
                left_out=tuple(left_out_weights(model, [getattr(m, n) for m, n in targets])),
                criterion=criterion,
            ),
        ),
    )


def wanda_scores(model: nn.Module, targets: list[tuple[nn.Module, str]], ctx: MethodContext) -> list[torch.Tensor]:
    """|W| * ||X_j||_2 per weight, with input-feature norms from the calibration inputs."""
    if ctx.calib_data is None:
        raise ValueError("the wanda criterion needs calibration inputs: give the ModelSpec calib_data or train_data")
    linears = [m for m, _ in targets]
    chosen = {id(m) for m in linears}
    others = [(n, m) for n, m in model.named_modules() if id(m) in chosen and not isinstance(m, nn.Linear)]
    if others:
        raise NotApplicable(
            f"the wanda criterion is defined for Linear layers only; it cannot score {describe(others)} "
            "(give layers=('Linear',) or use the magnitude criterion)"
        )
    sq = {id(m): torch.zeros(m.in_features, dtype=torch.float64) for m in linears}

    def hook(module: nn.Module, args: tuple) -> None:
        x = args[0].detach().reshape(-1, module.in_features).double()
        sq[id(module)] += (x * x).sum(dim=0)

    handles = [m.register_forward_pre_hook(hook) for m in linears]
    calib = ctx.calib_data
    # A sequence of tensors is run one by one (variable-length inputs, no padding to count).
    batches = list(calib) if isinstance(calib, (list, tuple)) else [calib[i : i + 16] for i in range(0, len(calib), 16)]
    try:
        with torch.no_grad():
            model.eval()
            for batch in batches:
                model(batch)
    finally:
        for h in handles:
            h.remove()
    return [m.weight.detach().abs() * sq[id(m)].sqrt().float()[None, :] for m in linears]


def row_masks(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """Keep-mask dropping exactly ``round(sparsity * columns)`` lowest-scoring weights of every row."""
    k = round(sparsity * scores.shape[1])
    keep = torch.ones_like(scores, dtype=torch.bool)
    if k > 0:
        drop = torch.topk(scores, k, dim=1, largest=False).indices
        keep.scatter_(1, drop, False)
    return keep


def nm_mask(scores: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """Keep-mask with exactly ``n`` kept weights in every group of ``m`` consecutive input weights
    of each row (the highest-scoring ones). The input dimension must be divisible by ``m``."""
    rows, cols = scores.shape
    if cols % m:
        raise ValueError(f"{n}:{m} sparsity needs the input dimension ({cols}) divisible by {m}")
    groups = scores.reshape(rows, cols // m, m)
    kept = torch.topk(groups, n, dim=2).indices
    keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(2, kept, True)
    return keep.reshape(rows, cols)


@dataclass(frozen=True)
class SemiStructuredConfig(MethodConfig):
    label_fields = ("n", "m", "criterion")
    n: int = 2
    m: int = 4
    criterion: str = "magnitude"

    def __post_init__(self) -> None:
        if not 0 < self.n < self.m:
            raise ValueError(f"prune-semistructured: need 0 < n < m, got n={self.n}, m={self.m}")
        if self.criterion not in CRITERIA:
            raise ValueError(f"prune-semistructured: criterion must be one of {CRITERIA}, got {self.criterion!r}")


@register_method("prune-semistructured", config=SemiStructuredConfig)
def prune_semistructured(model: nn.Module, config: SemiStructuredConfig, ctx: MethodContext) -> Artifact:
    """N:M sparsity (2:4 by default) in every Linear layer whose input dimension allows it."""
    targets = [
        (mod, "weight")
        for mod, _ in prunable_weights(model, ("Linear",), ctx.keep_float)
        if mod.in_features % config.m == 0
    ]
    if not targets:
        raise NotApplicable(f"no Linear layer with an input dimension divisible by {config.m}")
    weights = [mod.weight for mod, _ in targets]
    if config.criterion == "magnitude":
        scores = [w.detach().abs() for w in weights]
    else:
        scores = wanda_scores(model, targets, ctx)
    masks = [nm_mask(s, config.n, config.m) for s in scores]
    artifact = _made_permanent(model, targets, masks, config.criterion)
    artifact.results = tuple(dataclasses.replace(r, pattern=f"{config.n}:{config.m}") for r in artifact.results)
    return artifact


def global_magnitude_masks(weights: list[torch.Tensor], sparsity: float) -> list[torch.Tensor]:
    """Keep-masks that zero exactly ``round(sparsity * total)`` weights of smallest magnitude.

    Ties at the threshold are broken by position, so the count is exact whatever the values.
    """
    with torch.no_grad():
        scores = torch.cat([w.detach().abs().flatten() for w in weights])
        k = round(sparsity * scores.numel())
        drop = torch.zeros(scores.numel(), dtype=torch.bool)
        if k > 0:
            threshold = torch.kthvalue(scores, k).values
            drop = scores < threshold
            ties = torch.nonzero(scores == threshold).flatten()
            drop[ties[: k - int(drop.sum())]] = True
        masks, start = [], 0
        for w in weights:
            masks.append(~drop[start : start + w.numel()].reshape(w.shape))
            start += w.numel()
    return masks
