"""A method's payload is decoded as data, never run: no pickle it carries can execute code, and
bytes in no format read here give no breakdown (``-``) instead of a crash."""

from __future__ import annotations

import copy
import io
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from pytest_compress.formats import DENSE, FP16, SPARSE_BITMAP, WEIGHT_ONLY
from pytest_compress.formats.dense import DENSE_FORMAT, dense_payload
from pytest_compress.measure.size import linear_weight_storage


def dense_state_payload(state: object) -> bytes:
    return DENSE_FORMAT.encode(state)  # type: ignore[arg-type]


class _WritesMarker:
    """Unpickling this writes a file: the stand-in for a payload that runs code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def _ref() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))


def _malicious(marker: Path, state: dict[str, object] | None = None) -> bytes:
    return dense_state_payload({**(state or _ref().state_dict()), "0.weight": _WritesMarker(marker)})  # type: ignore[dict-item]


def test_the_malicious_payload_is_live(tmp_path: Path) -> None:
    # The premise of the next tests: loading it the way the plugin once did runs its code.
    marker = tmp_path / "marker"
    torch.load(io.BytesIO(_malicious(marker)), weights_only=False)
    assert marker.read_text() == "ran"


def test_a_pickle_that_runs_code_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    assert linear_weight_storage(_ref(), _malicious(marker), DENSE) is None
    assert not marker.exists()


def test_a_pickle_mixing_packed_rnn_weights_and_code_is_refused(tmp_path: Path) -> None:
    # A quantized GRU's state holds torch.ScriptObjects: the one global decoding stands in for.
    # Anything else in the same pickle stays refused.
    gru = _quantized_gru()
    marker = tmp_path / "marker"
    assert linear_weight_storage(_GruNet(), _malicious(marker, gru.state_dict()), DENSE) is None
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x00",
        bytes(range(256)) * 4,
        # the first bytes of an ONNX ModelProto: ir_version, producer_name "pytorch"
        b"\x08\x08\x12\x07pytorch\x1a\x052.4.0:\x9a\x01\n",
        b"\x20\x00\x00\x00\x00\x00\x00\x00{not json at all",  # a safetensors length, then garbage
        b"\x02\x00\x00\x00\x00\x00\x00\x00{}",  # a safetensors header with no tensors
        b"PK\x03\x04" + bytes(60),  # a truncated zip, as torch.save writes
    ],
    ids=["empty", "one-byte", "random", "onnx", "bad-safetensors", "empty-safetensors", "truncated-zip"],
)
@pytest.mark.parametrize("encoding", [DENSE, SPARSE_BITMAP, WEIGHT_ONLY])
def test_bytes_in_no_known_format_give_no_breakdown(payload: bytes, encoding: str) -> None:
    assert linear_weight_storage(_ref(), payload, encoding) is None


def test_a_torch_save_of_something_other_than_a_state_dict_gives_no_breakdown() -> None:
    assert linear_weight_storage(_ref(), dense_state_payload([torch.zeros(3)]), DENSE) is None


class _GruNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(8, 16, batch_first=True)
        self.head = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.gru(x)[0][:, -1])


def _quantized_gru() -> nn.Module:
    import torch.ao.quantization as tq

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's deprecation notices
        return tq.quantize_dynamic(_GruNet(), {nn.GRU, nn.Linear}, dtype=torch.qint8)


def test_built_in_torch_save_payloads_are_still_counted() -> None:
    ref = _ref()
    assert linear_weight_storage(ref, dense_payload(ref), DENSE).bits_per_weight == 32  # type: ignore[union-attr]
    half = dense_state_payload({k: v.half() for k, v in ref.state_dict().items()})
    assert linear_weight_storage(ref, half, FP16).bits_per_weight == 16  # type: ignore[union-attr]
    # A dynamic int8 GRU stores its gates as TorchScript objects; decoding them as data still
    # finds the int8 Linear head (8-bit codes + one float64 scale and one int64 zero point).
    acct = linear_weight_storage(_GruNet(), dense_payload(_quantized_gru()), DENSE)
    assert acct is not None and acct.linear_weight_bytes == 16 * 4 + 16


def test_decoding_a_quantized_gru_payload_executes_no_scriptobject_setstate() -> None:
    from pytest_compress.formats.torchao import PackedScriptObject, load

    state = load(dense_payload(copy.deepcopy(_quantized_gru())))
    assert isinstance(state, dict)
    packed = [v for v in state.values() if isinstance(v, PackedScriptObject)]
    assert packed and not any(isinstance(v, torch.ScriptObject) for v in state.values())
