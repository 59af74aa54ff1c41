"""Does inference give the same bits on 1 and on 2 torch threads? (Training does not: see README,
"How it measures", *Threads*.) Builds each named zoo model at initialisation (seed 0), runs its
first 16 eval inputs on 1 and on 2 threads and compares every output tensor with ``torch.equal``.

Usage: python tools/thread_invariance.py [MODEL ...]   (default: scenes-fcos scenes-ssdlite digits-vae)
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

if __package__ in (None, ""):  # run as a file: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def tensors(out: object) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, dict):
        return [t for k in sorted(out) for t in tensors(out[k])]
    if isinstance(out, (list, tuple)):
        return [t for item in out for t in tensors(item)]
    return [t for t in vars(out).values() if isinstance(t, torch.Tensor)] if hasattr(out, "__dict__") else []


def main(names: list[str]) -> None:
    import pytest_compress.zoo  # noqa: F401  (registers the zoo models)
    from pytest_compress.spec import MODELS

    for name in names:
        spec = MODELS.get(name)()
        torch.manual_seed(0)
        model = spec.build().eval()
        x = spec.eval_data[0][:16]
        runs = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with torch.no_grad():
                runs.append(tensors(model(list(x)) if name.startswith("scenes-") else model(x)))
        same = len(runs[0]) == len(runs[1]) and all(torch.equal(a, b) for a, b in zip(*runs, strict=True))
        print(f"{name}: {len(runs[0])} output tensors, bit-identical on 1 and 2 threads: {same}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["scenes-fcos", "scenes-ssdlite", "digits-vae"])
