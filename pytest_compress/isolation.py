"""Process-wide settings a case may change, put back as they were when the case ends.

A method or a model (ours, or a third party's) may set torch's quantized engine or thread count,
a ``torch.backends`` flag, the default dtype, or Hugging Face's offline mode, log verbosity and
progress bars, and not put them back. The next case, and the user's own code in the same process,
must not run on a previous case's choice: :func:`kept` wraps every case (``runner.run_case``).

Only modules that are imported are read (this module imports none of them). A library a case
imported for the first time is put back to what a fresh import starts from, where that is known.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# Read by Hugging Face libraries (some at import, some at every call).
ENV = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "HF_HUB_DISABLE_PROGRESS_BARS",
    "TRANSFORMERS_VERBOSITY",
    "TOKENIZERS_PARALLELISM",
)


@dataclass(frozen=True)
class Setting:
    """One process-wide setting: read and written only while ``module`` is imported."""

    name: str
    module: str
    get: Callable[[], Any]
    set: Callable[[Any], None]
    # What a fresh import of ``module`` starts from (read after the environment is put back);
    # None: unknown, so a case that imported the module first leaves it as the case left it.
    default: Callable[[], Any] | None = None


def _torch() -> Any:
    return sys.modules["torch"]


def _attr(path: str) -> tuple[Callable[[], Any], Callable[[Any], None]]:
    """Getter and setter of a ``torch.backends`` flag, e.g. ``"cudnn.benchmark"``."""
    *parents, leaf = path.split(".")

    def owner() -> Any:
        obj = _torch().backends
        for part in parents:
            obj = getattr(obj, part)
        return obj

    return (lambda: getattr(owner(), leaf)), (lambda value: setattr(owner(), leaf, value))


def _flag(path: str) -> Setting:
    get, set_ = _attr(path)
    return Setting(f"torch.backends.{path}", "torch", get, set_)


def _deterministic() -> tuple[bool, bool]:
    t = _torch()
    return t.are_deterministic_algorithms_enabled(), t.is_deterministic_algorithms_warn_only_enabled()


def _set_deterministic(value: tuple[bool, bool]) -> None:
    _torch().use_deterministic_algorithms(value[0], warn_only=value[1])


# torch >= 2.9's spelling of the TF32 switches; the legacy one (float32_matmul_precision,
# allow_tf32) refuses to read once these were set directly ("mix of the legacy and new APIs").
FP32_PATHS = (
    "cuda.matmul.fp32_precision",
    "cudnn.fp32_precision",
    "cudnn.conv.fp32_precision",
    "cudnn.rnn.fp32_precision",
    "mkldnn.fp32_precision",
    "mkldnn.matmul.fp32_precision",
    "mkldnn.conv.fp32_precision",
    "mkldnn.rnn.fp32_precision",
)


def _fp32() -> tuple[Any, ...]:
    t = _torch()
    top = getattr(t.backends, "fp32_precision", None)
    try:
        legacy = (t.get_float32_matmul_precision(), t.backends.cuda.matmul.allow_tf32, t.backends.cudnn.allow_tf32)
    except RuntimeError:  # the new spelling was used: only it reads
        return ("new", top, *(_attr(path)[0]() for path in FP32_PATHS))
    return ("legacy", top, *legacy)


def _set_fp32(value: tuple[Any, ...]) -> None:
    # Put back in the spelling it was read in: the legacy setters also reset what the new
    # spelling changed, and leave both readable, as they were.
    t = _torch()
    if value[1] is not None:
        t.backends.fp32_precision = value[1]
    if value[0] == "legacy":
        t.set_float32_matmul_precision(value[2])
        t.backends.cuda.matmul.allow_tf32, t.backends.cudnn.allow_tf32 = value[3], value[4]
    else:
        for path, v in zip(FP32_PATHS, value[2:], strict=True):
            _attr(path)[1](v)


def _hub_offline_default() -> bool:
    from huggingface_hub.constants import _is_true

    return bool(_is_true(os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE")))


def _set_hub_offline(value: bool) -> None:
    sys.modules["huggingface_hub.constants"].HF_HUB_OFFLINE = value


def _hub_bars() -> dict[str, bool]:
    return dict(sys.modules["huggingface_hub.utils.tqdm"].progress_bar_states)


def _set_hub_bars(value: dict[str, bool]) -> None:
    states = sys.modules["huggingface_hub.utils.tqdm"].progress_bar_states
    states.clear()
    states.update(value)


def _hf_logging() -> Any:
    return sys.modules["transformers.utils.logging"]


def _set_transformers_bars(on: bool) -> None:
    # Set the flag only: enable_progress_bar() would also switch huggingface_hub's (its own setting).
    _hf_logging()._tqdm_active = on


def _transformers_bars_default() -> bool:
    hub = sys.modules.get("huggingface_hub.utils.tqdm")
    return not hub.are_progress_bars_disabled() if hub is not None else True


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "torch.backends.quantized.engine",
        "torch",
        lambda: _torch().backends.quantized.engine,
        lambda v: setattr(_torch().backends.quantized, "engine", v),
    ),
    Setting(
        "torch.get_num_threads", "torch", lambda: _torch().get_num_threads(), lambda v: _torch().set_num_threads(v)
    ),
    _flag("cudnn.enabled"),
    _flag("cudnn.benchmark"),
    _flag("cudnn.deterministic"),
    _flag("cuda.matmul.allow_fp16_reduced_precision_reduction"),
    _flag("cuda.matmul.allow_bf16_reduced_precision_reduction"),
    _flag("mkldnn.enabled"),
    Setting("torch fp32 precision (TF32)", "torch", lambda: _fp32(), lambda v: _set_fp32(v)),
    Setting("torch.deterministic_algorithms", "torch", _deterministic, _set_deterministic),
    Setting(
        "torch.default_dtype", "torch", lambda: _torch().get_default_dtype(), lambda v: _torch().set_default_dtype(v)
    ),
    Setting("torch.grad_enabled", "torch", lambda: _torch().is_grad_enabled(), lambda v: _torch().set_grad_enabled(v)),
    Setting(
        "huggingface_hub.constants.HF_HUB_OFFLINE",
        "huggingface_hub.constants",
        lambda: sys.modules["huggingface_hub.constants"].HF_HUB_OFFLINE,
        _set_hub_offline,
        _hub_offline_default,
    ),
    Setting("huggingface_hub progress bars", "huggingface_hub.utils.tqdm", _hub_bars, _set_hub_bars, dict),
    Setting(
        "transformers progress bars",
        "transformers.utils.logging",
        lambda: _hf_logging().is_progress_bar_enabled(),
        _set_transformers_bars,
        _transformers_bars_default,
    ),
    Setting(
        "transformers verbosity",
        "transformers.utils.logging",
        lambda: _hf_logging().get_verbosity(),
        lambda v: _hf_logging().set_verbosity(v),
        lambda: _hf_logging()._get_default_logging_level(),
    ),
)


def snapshot() -> dict[str, Any]:
    """Every setting whose module is imported now, by name."""
    found = {}
    for setting in SETTINGS:
        if setting.module in sys.modules:
            with contextlib.suppress(Exception), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a deprecated spelling still reads the value
                found[setting.name] = setting.get()
    return found


@contextlib.contextmanager
def kept() -> Iterator[None]:
    """Inside: anything goes. After: the settings (and the Hugging Face environment variables) are
    as they were before, whatever happened inside, an exception included."""
    env = {name: os.environ.get(name) for name in ENV}
    before = snapshot()
    try:
        yield
    finally:
        for name, value in env.items():
            if value is None:
                os.environ.pop(name, None)
            elif os.environ.get(name) != value:
                os.environ[name] = value
        _restore(before)


def _restore(before: dict[str, Any]) -> None:
    for setting in SETTINGS:
        if setting.module not in sys.modules:
            continue
        if setting.name in before:
            value = before[setting.name]
        elif setting.default is not None:  # imported during the case: back to a fresh import's
            value = setting.default()
        else:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if setting.get() != value:
                    setting.set(value)
        except Exception as exc:  # said, not raised: the case's own outcome stands
            warnings.warn(f"pytest-compress could not put back {setting.name} ({value!r}): {exc}", stacklevel=3)
