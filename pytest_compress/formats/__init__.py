"""Artifact formats: how a compressed model's bytes are written, read back and accounted for.

A format is an object registered under the encoding string an :class:`~pytest_compress.Artifact`
carries. It has three jobs:

- ``encode(state)``: the bytes to ship for a state dict (the tensors a module runs with);
- ``decode(payload)``: the state dict back, as the module loads it (``load_state_dict``);
- ``stored(payload)``: the accounting — per decoded tensor, its shape and the bytes the payload
  spends on it (values, bitmaps, codes, scales: every part). From it ``linear_weight_bytes``
  says what each ``nn.Linear`` of the reference costs in this file, which is what the report's
  bits per weight divide (:func:`pytest_compress.measure.size.linear_weight_storage`).

So measurement never guesses a method's file layout: it asks the payload's format, and a payload
whose encoding no format claims shows ``-`` for bits per weight. A third party registers its own::

    import pytest_compress as pc

    class NpzFormat(pc.Format):
        encoding = "my-team/npz-v1"

        def encode(self, state):            # -> bytes
            ...
        def decode(self, payload):          # -> {name: tensor}
            ...
        def stored(self, payload):          # -> {name: pc.StoredTensor(shape, nbytes)}
            ...

    pc.register_format(NpzFormat())         # then return pc.Artifact(..., encoding="my-team/npz-v1")

Built-in formats are declared here by module and imported on first use: importing this package
does not import torch.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The encoding strings of the built-in formats: what Artifact.encoding (and a baseline's
# size.encoding) says. Fixed: baselines record them.
DENSE = "torch.save(state_dict)"
FP16 = "torch.save(state_dict), float16 tensors"
BF16 = "torch.save(state_dict), bfloat16 tensors"
PT2E = "torch.save(state_dict) of the PT2E graph"
SPARSE_BITMAP = "pytest-compress/sparse-bitmap-v1"
WEIGHT_ONLY = "pytest-compress/weight-only-v1"
WEIGHT_ONLY_LORA = "pytest-compress/weight-only-v1 (packed base + float32 LoRA adapters)"
CLUSTERED = "pytest-compress/clustered-v1"

_BUILTIN = {
    DENSE: "pytest_compress.formats.dense",
    FP16: "pytest_compress.formats.dense",
    BF16: "pytest_compress.formats.dense",
    PT2E: "pytest_compress.formats.dense",
    SPARSE_BITMAP: "pytest_compress.formats.sparse",
    WEIGHT_ONLY: "pytest_compress.formats.weight_only",
    WEIGHT_ONLY_LORA: "pytest_compress.formats.weight_only",
    CLUSTERED: "pytest_compress.formats.clustered",
}


class FormatError(ValueError):
    """Bytes that are not a readable payload of the format asked to read them (empty, damaged,
    another format, a pickle that would run code)."""


@dataclass(frozen=True)
class StoredTensor:
    """One tensor of a decoded state dict, as a payload stores it."""

    shape: tuple[int, ...]  # the decoded tensor's shape
    nbytes: int  # bytes the payload spends on it, every part counted


class Format(ABC):
    """An artifact format: ``encode``, ``decode`` and its accounting (``stored``).

    Subclasses set ``encoding`` (the registry key). ``decode(encode(state))`` must give what the
    module runs with: the same tensors, or — for packed formats — a state the module loads and
    computes the same outputs with.
    """

    encoding: str = ""

    @abstractmethod
    def encode(self, state: Mapping[str, Any]) -> bytes:
        """The bytes to ship for ``state`` (a module's ``state_dict()``)."""

    @abstractmethod
    def decode(self, payload: bytes) -> dict[str, Any]:
        """The state dict ``payload`` describes; :class:`FormatError` if it is not this format."""

    @abstractmethod
    def stored(self, payload: bytes) -> dict[str, StoredTensor]:
        """Per decoded tensor name, its shape and the bytes the payload spends on it;
        :class:`FormatError` if the payload is not this format. Reads as little as it can (a
        header) and runs nothing the payload chose."""

    def counts_as_weight(self, name: str, tensor: StoredTensor) -> bool:
        """Whether a stored tensor under a layer's name (``name`` relative to it: ``weight``,
        ``0.weight``, ``_packed_params._packed_params``) is part of that layer's weight.

        Weights are the tensors of 2 or more dimensions, as
        :func:`~pytest_compress.measure.size.count_weights` counts them: a Linear's matrix, or
        whatever replaced it (low-rank factors, packed int8). Biases, scales and zero points of
        the layer itself are not. Override where a format stores other matrices under a layer.
        """
        return len(tensor.shape) >= 2

    def linear_weight_bytes(self, payload: bytes, layers: Sequence[str]) -> dict[str, int] | None:
        """Bytes the payload spends on the weight of each named layer (qualified module names
        of the *reference*: a layer the method replaced is counted as what replaced it).
        ``None`` when some layer has no weight in the payload (another model, a compiled graph)."""
        stored = self.stored(payload)
        out: dict[str, int] = {}
        for layer in layers:
            prefix = f"{layer}." if layer else ""
            found = [
                t.nbytes
                for name, t in stored.items()
                if name.startswith(prefix) and self.counts_as_weight(name[len(prefix) :], t)
            ]
            if not found:
                return None
            out[layer] = sum(found)
        return out


_formats: dict[str, Format] = {}


def register_format(fmt: Format, *, override: bool = False) -> Format:
    """Register ``fmt`` under ``fmt.encoding``; returns it.

    Registering an encoding another format holds (a built-in included) raises, naming both,
    unless ``override=True``. The same class registering again (a conftest re-imported)
    replaces its earlier instance.
    """
    if not isinstance(fmt, Format):
        raise TypeError(f"register_format: expected a pytest_compress.Format instance, got {type(fmt).__name__}")
    encoding = fmt.encoding
    if not isinstance(encoding, str) or not encoding:
        raise ValueError(f"register_format: {_origin(fmt)}.encoding must be a non-empty string, got {encoding!r}")
    if not override:
        current = _formats.get(encoding)
        holder = _origin(current) if current is not None else None
        builtin = _BUILTIN.get(encoding)
        if holder is None and builtin is not None and type(fmt).__module__ != builtin:
            holder = f"the built-in {builtin}"
        if holder is not None and holder != _origin(fmt):
            raise ValueError(
                f"format {encoding!r} is already registered by {holder}; {_origin(fmt)} would replace it "
                "(pass override=True to replace it on purpose, or pick another encoding)"
            )
    _formats[encoding] = fmt
    return fmt


def get_format(encoding: str) -> Format | None:
    """The format registered for ``encoding`` (a built-in is imported on first use), or None."""
    fmt = _formats.get(encoding)
    if fmt is None and encoding in _BUILTIN:
        importlib.import_module(_BUILTIN[encoding])
        fmt = _formats.get(encoding)
    return fmt


def encodings() -> list[str]:
    """Every encoding a format is registered or declared for."""
    return sorted(set(_formats) | set(_BUILTIN))


def _origin(fmt: Format) -> str:
    return f"{type(fmt).__module__}.{type(fmt).__qualname__}"
