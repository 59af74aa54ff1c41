"""End to end through the plugin: a set metric (detection mAP) on a scripted detector, recorded,
gated and reported like any other metric (pytester; no detector is trained)."""

from __future__ import annotations

import json
import textwrap

import pytest

from pytest_compress import options

# A "detector" that reads its boxes out of its input (each image is its own packed ground truth,
# the layout of zoo/scenes.py) through one 4x4 Linear initialised to the identity: mAP 1.0, and
# any change to that Linear moves every box.
CONFTEST = textwrap.dedent(
    """
    import pytest_compress as pc

    @pc.register_model("scripted-detector")
    def scripted_detector():
        import torch
        from pytest_compress.measure.detection import MAP, MAP50

        g = torch.Generator().manual_seed(0)
        n = 80
        xy = torch.rand(n, 4, 2, generator=g) * 40
        wh = 8 + torch.rand(n, 4, 2, generator=g) * 16
        labels = torch.randint(1, 11, (n, 4, 1), generator=g).float()
        labels[n // 2 :, 3] = -1  # half the images have three objects
        packed = torch.cat([xy, xy + wh, labels], dim=2)

        class Scripted(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.box = torch.nn.Linear(4, 4)
                with torch.no_grad():
                    self.box.weight.copy_(torch.eye(4))
                    self.box.bias.zero_()

            def forward(self, x):
                out = []
                for row in x.reshape(-1, 4, 5):
                    keep = row[:, 4] >= 0
                    boxes = self.box(row[keep, :4])
                    out.append({"boxes": boxes, "labels": row[keep, 4].long(), "scores": torch.ones(int(keep.sum()))})
                return out

        return pc.ModelSpec(
            build=Scripted, eval_data=(packed.reshape(n, 20), packed), example_inputs=(packed[:1].reshape(1, 20),),
            calib_data=packed.reshape(n, 20), metric=MAP, extra_metrics=(MAP50,), eval_batch_size=16,
        )
    """
)

SUITE = textwrap.dedent(
    """
    import pytest

    @pytest.mark.compress(model="scripted-detector", method="fp16", max_accuracy_drop=0.01)
    def test_fp16(compress_check):
        result = compress_check()
        assert result.metric.name == "map" and result.metric.reference == pytest.approx(1.0)
        assert result.extra_metrics[0].name == "map50"

    @pytest.mark.compress(model="scripted-detector", method="prune-unstructured",
                          method_args={"sparsity": 0.85}, max_accuracy_drop=0.05)
    def test_pruned(compress_check):
        compress_check()
    """
)


@pytest.fixture
def detection_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_det=SUITE)
    pytester.makeini("[pytest]\ncompress_baseline_dir = baselines\ncompress_threads = 1\n")
    return pytester


def test_map_is_gated_recorded_and_reported(detection_project: pytest.Pytester) -> None:
    result = detection_project.runpytest(options.UPDATE, f"{options.DRAWS}=1", "--compress-report=json:report.json")
    # 85% of the 16 weights pruned by magnitude: the 12 zeros and two of the identity's ones. Boxes
    # collapse: the mAP drop's whole interval lies above 5 pt.
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["map drop * > max_accuracy_drop 0.05 (1 -> *, 80 examples, paired 99% lenient)"])
    entry = json.loads((detection_project.path / "baselines" / "test_det.json").read_text())["cases"]
    fp16 = entry["test_det.py::test_fp16"]["metric"]
    assert fp16["name"] == "map" and fp16["aggregate"] == "set" and fp16["reference"] == pytest.approx(1.0)
    doc = json.loads((detection_project.path / "report.json").read_text())
    rows = {r["test_id"]: r for r in doc["rows"]}
    assert "extra.map50.compressed" in rows["test_det.py::test_fp16"]["measurements"]
    # Recorded once, the unchanged fp16 case passes against its own baseline.
    detection_project.runpytest("-k", "fp16").assert_outcomes(passed=1)
