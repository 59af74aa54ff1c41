"""What a third party gets from the format registry: its format is asked for the accounting like a
built-in, taking a built-in's encoding is explicit, and the package stays torch-free to import."""

from __future__ import annotations

import io
import sys

import pytest
import torch
from torch import nn

from pytest_compress import formats
from pytest_compress.formats import CLUSTERED, DENSE, Format, StoredTensor, get_format, register_format
from pytest_compress.measure.size import linear_weight_storage


def _mlp(seed: int, d_in: int, d_hidden: int, d_out: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU(), nn.Linear(d_hidden, d_out)).eval()


class _NpzLike(Format):
    """A third party's format: float16 tensors in a torch.save'd dict, under its own encoding."""

    encoding = "someone/half-v1"

    def encode(self, state):  # noqa: ANN001, ANN201
        buf = io.BytesIO()
        torch.save({k: v.half() for k, v in state.items()}, buf)
        return buf.getvalue()

    def decode(self, payload):  # noqa: ANN001, ANN201
        return torch.load(io.BytesIO(payload), weights_only=True)

    def stored(self, payload):  # noqa: ANN001, ANN201
        return {k: StoredTensor(tuple(v.shape), 2 * v.numel()) for k, v in self.decode(payload).items()}


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry as it is, restored after the test (built-ins imported first: a module imported
    while the copy is in place would register only there)."""
    for encoding in formats.encodings():
        get_format(encoding)
    monkeypatch.setattr(formats, "_formats", dict(formats._formats))


def test_a_registered_third_party_format_is_asked_for_its_accounting(registry) -> None:
    reference = _mlp(0, 16, 8, 4)
    payload = _NpzLike().encode(reference.state_dict())
    assert linear_weight_storage(reference, payload, _NpzLike.encoding) is None  # not registered: "-"
    register_format(_NpzLike())
    storage = linear_weight_storage(reference, payload, _NpzLike.encoding)
    assert storage is not None and storage.bits_per_weight == 16
    assert _NpzLike.encoding in formats.encodings()
    register_format(_NpzLike())  # the same class again (a conftest re-imported) replaces it


def test_taking_a_built_in_encoding_needs_override(registry) -> None:
    class Mine(_NpzLike):
        encoding = DENSE

    with pytest.raises(ValueError, match=r"'torch.save\(state_dict\)' is already registered by .*DenseFormat"):
        register_format(Mine())
    register_format(Mine(), override=True)
    assert type(get_format(DENSE)) is Mine


def test_taking_an_unimported_built_in_encoding_needs_override(registry) -> None:
    formats._formats.pop(CLUSTERED, None)

    class Mine(_NpzLike):
        encoding = CLUSTERED

    with pytest.raises(ValueError, match="the built-in pytest_compress.formats.clustered"):
        register_format(Mine())


def test_only_format_objects_with_an_encoding_register(registry) -> None:
    with pytest.raises(TypeError, match="Format instance"):
        register_format(object())  # type: ignore[arg-type]

    class Nameless(_NpzLike):
        encoding = ""

    with pytest.raises(ValueError, match="encoding must be a non-empty string"):
        register_format(Nameless())


def test_importing_the_formats_package_does_not_import_torch(pytester: pytest.Pytester) -> None:
    out = pytester.run(
        sys.executable,
        "-c",
        "import sys, pytest_compress.formats as f; f.encodings(); print('torch' in sys.modules)",
    )
    assert out.outlines[-1] == "False"
