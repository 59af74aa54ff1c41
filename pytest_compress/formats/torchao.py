"""torch.ao's packed int8 weights inside a ``torch.save(state_dict)`` payload, read as data.

Quantized modules (``int8-dynamic``, eager ``int8-static``) save their weights packed:

- a quantized Linear stores ``L._packed_params._packed_params`` as a ``(weight, bias)`` tuple
  whose weight is a quantized tensor (int8 codes plus per-tensor or per-channel scales and zero
  points): its bytes are the codes and those parameters; the bias is not a *weight*;
- a quantized GRU/LSTM (and cells) stores each gate group as a TorchScript object (packed
  parameters, ``torch.classes.rnn.CellParamsBase``) that owns further packed Linear parameters.

Unpickling a real ``torch.ScriptObject`` runs the ``__setstate__`` of whichever registered C++
class the bytes name. :func:`load` never does: the payload is read with ``weights_only=True``
and every ScriptObject becomes a :class:`PackedScriptObject` that only keeps its state.
:func:`rebuild` (used by ``decode``) then turns those back into torch's own packed objects —
only for the classes in ``PACKED_CLASSES``, so a module can ``load_state_dict`` what was decoded.
"""

from __future__ import annotations

import io
import pickle
import warnings
from typing import Any

import torch

from pytest_compress.formats import FormatError, StoredTensor

# torch.ao's packed-weight classes a decoded payload may rebuild; anything else stays refused.
PACKED_CLASSES = (
    "__torch__.torch.classes.rnn.CellParamsBase",
    "__torch__.torch.classes.quantized.LinearPackedParamsBase",
    "__torch__.torch.classes.quantized.Conv2dPackedParamsBase",
)


class PackedScriptObject:
    """Stands in for ``torch.ScriptObject`` while a payload is decoded: keeps the state, runs nothing."""

    def __setstate__(self, state: object) -> None:
        self.state = state


def load(payload: bytes) -> dict[str, Any]:
    """The state dict of a ``torch.save`` payload, decoded with ``weights_only=True``: tensors,
    containers and the handful of types torch allow-lists; ScriptObjects as stand-ins. A pickle
    that names anything else is refused, never run (:class:`FormatError`), as is anything that
    is not a ``torch.save`` of a dict."""

    def read() -> object:
        return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)

    with warnings.catch_warnings():
        # Unpickling torch.ao's packed int8 weights goes through torch's own deprecated
        # TypedStorage path; nothing a user can act on.
        warnings.filterwarnings("ignore", message=r"TypedStorage is deprecated")
        try:
            try:
                state = read()
            except pickle.UnpicklingError as exc:
                safe = getattr(torch.serialization, "safe_globals", None)
                if safe is None or "torch.ScriptObject" not in str(exc):
                    raise
                # Only the ScriptObject global gets a stand-in (torch >= 2.6 maps a name to it);
                # every other global stays refused.
                with safe([(PackedScriptObject, "torch.ScriptObject")]):
                    state = read()
        except Exception as exc:  # empty, ONNX, damaged or a refused pickle
            raise FormatError(f"not a readable torch.save payload ({type(exc).__name__}: {str(exc)[:200]})") from exc
    if not isinstance(state, dict):
        raise FormatError(f"a torch.save payload of a {type(state).__name__}, not a state dict")
    return state


def stored_tensor(value: object) -> StoredTensor | None:
    """Shape and bytes in a torch.save file of a tensor, or of the weight of a packed ``(weight,
    bias)`` tuple; None for anything else (a dtype entry, a packed RNN object)."""
    if isinstance(value, (tuple, list)):
        return stored_tensor(value[0]) if value else None
    if not isinstance(value, torch.Tensor):
        return None
    return StoredTensor(tuple(value.shape), tensor_bytes(value))


def tensor_bytes(t: torch.Tensor) -> int:
    if not t.is_quantized:
        return t.numel() * t.element_size()
    data = t.int_repr().numel() * t.int_repr().element_size()
    if t.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric):
        scales, zps = t.q_per_channel_scales(), t.q_per_channel_zero_points()
        return data + scales.numel() * scales.element_size() + zps.numel() * zps.element_size()
    return data + 16  # one float64 scale and one int64 zero point


def rebuild(value: Any) -> Any:
    """``value`` with every stand-in turned back into torch's packed object (inner ones first);
    :class:`FormatError` for a class outside ``PACKED_CLASSES``."""
    if isinstance(value, PackedScriptObject):
        return _packed(value.state)
    if isinstance(value, dict):
        out = type(value)((k, rebuild(v)) for k, v in value.items())
        if hasattr(value, "_metadata"):  # a state_dict's per-module versions: load_state_dict reads them
            out._metadata = value._metadata  # type: ignore[attr-defined]
        return out
    if isinstance(value, (tuple, list)):
        return type(value)(rebuild(v) for v in value)
    return value


def _packed(state: object) -> torch.ScriptObject:
    # torch pickles a ScriptObject as (its __getstate__, its class's qualified name).
    if not (isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], str)):
        raise FormatError("a packed object with an unexpected pickled state")
    inner, qualname = state
    if qualname not in PACKED_CLASSES:
        raise FormatError(f"refusing to rebuild {qualname!r}: not one of torch.ao's packed-weight classes")
    obj = torch.ScriptObject.__new__(torch.ScriptObject)
    obj.__setstate__((rebuild(inner), qualname))
    return obj
