"""Shared fixtures: a throw-away project with a tiny, fast model for end-to-end plugin tests."""

from __future__ import annotations

import textwrap

import pytest

# A user's conftest, as the README tells them to write it: one model, two deliberately bad methods.
PROJECT_CONFTEST = textwrap.dedent(
    '''
    import os

    import pytest_compress as pc

    @pc.register_model("blobs-mlp")
    def blobs_mlp():
        import torch
        # Test knobs: another initialisation seed stands in for a machine whose kernels retrain the
        # reference differently; an eval offset changes the eval data under the same weights.
        seed, offset = int(os.environ.get("BLOBS_SEED", "0")), int(os.environ.get("BLOBS_EVAL_OFFSET", "0"))
        g = torch.Generator().manual_seed(0)
        centers = torch.randn(3, 16, generator=g) * 0.8
        y = torch.arange(600) % 3
        x = centers[y] + torch.randn(600, 16, generator=g)

        def build():
            return torch.nn.Sequential(torch.nn.Linear(16, 256), torch.nn.ReLU(), torch.nn.Linear(256, 3))

        def train(model, data):
            xs, ys = data
            opt = torch.optim.Adam(model.parameters(), lr=1e-2)
            for _ in range(60):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(xs), ys).backward()
                opt.step()

        return pc.ModelSpec(build=build, train=train, train_data=(x[:400], y[:400]),
                            eval_data=(x[400 + offset:], y[400 + offset:]), example_inputs=(x[:1],),
                            settings={"epochs": 60, **({"seed": seed} if seed else {})})

    @pc.register_method("noisy")
    def noisy(model, config, ctx):
        """Adds heavy noise to every weight: a method that is deliberately worse."""
        import torch
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn(p.shape, generator=g) * 3.0)
        return model

    @pc.register_method("slow")
    def slow(model, config, ctx):
        """Runs the model four times per call: a compressed model that is deliberately slower."""
        import torch

        class Slow(torch.nn.Module):
            def __init__(self, inner):
                super().__init__()
                self.inner = inner

            def forward(self, x):
                for _ in range(4):
                    y = self.inner(x)
                return y

        return Slow(model)
    '''
)

PROJECT_TESTS = textwrap.dedent(
    """
    import pytest

    @pytest.mark.compress(model="blobs-mlp", method="int8-dynamic", max_accuracy_drop=0.05, min_size_reduction=2.0)
    def test_int8(compress_check):
        compress_check()

    @pytest.mark.compress(model="blobs-mlp", method="prune-unstructured", method_args={"sparsity": 0.5})
    def test_prune(compress_check):
        compress_check()
    """
)


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(PROJECT_CONFTEST)
    pytester.makepyfile(test_model=PROJECT_TESTS)
    # Short timing budget and a loose latency band: these tests check the workflow, not speed (the
    # latency gates have their own tests); 3 draws keep refreshes quick.
    pytester.makeini("[pytest]\ncompress_latency_budget = 0.2\ncompress_latency_tolerance = 0.25\ncompress_draws = 3\n")
    return pytester
