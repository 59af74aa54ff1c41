"""Cache of trained weights, so a second run does not retrain.

Entries are safetensors files keyed by a hash of everything that determines the weights: the
model's definition (module tree, parameter shapes, source of its build and train functions),
its training settings, the training data and the torch version. Each file carries a digest of
its tensors; an entry that fails to load or whose digest differs is reported and rebuilt.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from pytest_compress import atomic
from pytest_compress.serialize import safetensors_metadata

CACHE_FORMAT = 1


class CacheWarning(UserWarning):
    """A cache entry could not be used and is being rebuilt."""


def _source(fn: Callable[..., Any] | None) -> str:
    """Source text of a build/train callable: editing the training code invalidates the cache.

    Never falls back to ``repr``: that holds a memory address and would change every run.
    """
    if fn is None:
        return ""
    if isinstance(fn, functools.partial):
        return f"{_source(fn.func)}|args={fn.args!r}|kwargs={sorted(fn.keywords.items())!r}"
    try:
        return inspect.getsource(fn)
    except (OSError, TypeError):
        return f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', type(fn).__qualname__)}"


def tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def cache_key(
    model: nn.Module,
    *,
    build: Callable[..., Any],
    train: Callable[..., Any] | None,
    settings: dict[str, Any],
    train_data: tuple[torch.Tensor, ...] | None,
) -> str:
    parts = {
        "format": CACHE_FORMAT,
        "definition": repr(model),
        "shapes": [(k, list(v.shape), str(v.dtype)) for k, v in model.state_dict().items()],
        "build": _source(build),
        "train": _source(train),
        "settings": settings,
        "data": tensor_digest({str(i): t for i, t in enumerate(train_data)}) if train_data else "",
        "torch": torch.__version__.split("+")[0],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def source_of(*fns: Callable[..., Any]) -> str:
    """Source of the code a cached result depends on (for cache keys)."""
    return "\n".join(_source(fn) for fn in fns)


class ModelCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, name: str, key: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.root / "models" / f"{safe}-{key[:20]}.safetensors"

    def load(self, name: str, key: str) -> dict[str, torch.Tensor] | None:
        path = self.path(name, key)
        if not path.exists():
            return None
        try:
            payload = path.read_bytes()
            tensors = st_load(payload)
            meta = safetensors_metadata(payload)
            if meta.get("key") != key or meta.get("digest") != tensor_digest(tensors):
                raise ValueError("digest or key mismatch")
        except Exception as exc:  # any damage at all means "rebuild", never "crash"
            warnings.warn(CacheWarning(f"cache entry {path} is corrupt ({exc}); rebuilding it"), stacklevel=2)
            path.unlink(missing_ok=True)
            return None
        return tensors

    def trained(
        self, base_key: str, label: str, module: nn.Module, train: Callable[[nn.Module], None], key: dict[str, Any]
    ) -> str:
        """Weights a compression method trains, keyed by the reference model's key, the method's
        key and the module's architecture; loaded instead of retrained when all match."""
        full = hashlib.sha256(
            json.dumps(
                {
                    "base": base_key,
                    "label": label,
                    "key": key,
                    "definition": repr(module),
                    "shapes": [(k, list(v.shape)) for k, v in module.state_dict().items()],
                },
                sort_keys=True,
                default=str,
            ).encode()
        ).hexdigest()
        cached = self.load(label, full)
        if cached is not None:
            module.load_state_dict(cached, strict=True)
            return "cache"
        train(module)
        self.save(label, full, module.state_dict(), {})
        return "trained"

    def save(self, name: str, key: str, state_dict: dict[str, torch.Tensor], meta: dict[str, str]) -> Path:
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state_dict.items()}
        metadata = {**meta, "model": name, "key": key, "digest": tensor_digest(tensors)}
        path = self.path(name, key)
        atomic.write_bytes(path, st_save(tensors, metadata=metadata))
        return path
