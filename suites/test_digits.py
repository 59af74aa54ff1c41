"""Digits suite: a small CNN and ResNet-18 trained on sklearn digits, three compression methods.

Thresholds are the claims we hold each method to on this CPU (see README "Digits suite").
"""

import pytest

MODELS = ["digits-cnn", "digits-resnet18"]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="int8-dynamic", max_accuracy_drop=0.01)
def test_int8_dynamic(compress_check, model):
    compress_check(model=model)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="int8-static", max_accuracy_drop=0.01, min_size_reduction=3.5, min_speedup=1.0)
def test_int8_static(compress_check, model):
    compress_check(model=model)


@pytest.mark.parametrize("sparsity", [0.5, 0.7, 0.9])
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.compress(method="prune-unstructured", max_accuracy_drop=0.02)
def test_prune_unstructured(compress_check, model, sparsity):
    result = compress_check(model=model, method_args={"sparsity": sparsity})
    assert result.details["weight_sparsity"] == pytest.approx(sparsity, abs=1e-3)
