"""Reliability under bad input, crashes and concurrency, through the shipped path (pytest runs).

A throw-away project (a small MLP on Gaussian blobs, two compress cases) records its baselines,
then each part damages something and runs ``pytest`` on it in a subprocess:

1. **Malformed baselines** (``bench/reliability_variants.py``): every variant of the quality and
   the latency file is invalid. Outcome per run: *clear* (the run fails and names the file, no
   traceback), *traceback* (a Python traceback or INTERNALERROR), *hang* (no exit in 60 s),
   *silent pass* (exit 0), *unclear* (failed without naming the file).
2. **kill -9 while writing**: an update run is killed at each write phase (inside the temp file
   before fsync, before and after each rename). Afterwards both files must be valid, quality and
   latency either from one run or carrying different run ids (a mixed state is detectable), and no
   stray temp file may be un-ignored by git.
3. **Concurrent updaters**: two update runs of different cases on the same files, each pausing
   between reading and writing; entries lost are counted.
4. **Cache tampering**: the reference's cache entry is damaged (tensors dropped, extra, reshaped
   with the digest recomputed; truncated; special files); the run must rebuild, never crash or hang.

    python bench/reliability.py --out reports/reliability.md
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import emit  # noqa: E402
from bench.reliability_variants import Writer, cache_variants, entry_variants, file_variants  # noqa: E402

TIMEOUT_S = 60
CONFTEST = textwrap.dedent(
    """
    import pytest_compress as pc

    @pc.register_model("blobs-mlp")
    def blobs_mlp():
        import torch
        g = torch.Generator().manual_seed(0)
        centers = torch.randn(3, 16, generator=g) * 0.8
        y = torch.arange(600) % 3
        x = centers[y] + torch.randn(600, 16, generator=g)

        def train(model, data):
            xs, ys = data
            opt = torch.optim.Adam(model.parameters(), lr=1e-2)
            for _ in range(60):
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(xs), ys).backward()
                opt.step()

        return pc.ModelSpec(
            build=lambda: torch.nn.Sequential(torch.nn.Linear(16, 256), torch.nn.ReLU(), torch.nn.Linear(256, 3)),
            train=train, train_data=(x[:400], y[:400]), eval_data=(x[400:], y[400:]), example_inputs=(x[:1],))
    """
)
TESTS = textwrap.dedent(
    """
    import pytest

    @pytest.mark.compress(model="blobs-mlp", method="int8-dynamic", max_accuracy_drop=0.05)
    def test_int8(compress_check):
        compress_check()

    @pytest.mark.compress(model="blobs-mlp", method="prune-unstructured", method_args={"sparsity": 0.5})
    def test_prune(compress_check):
        compress_check()
    """
)
# Loaded with -p bench_faults: kill -9 at a write phase (BENCH_KILL=fsync:N|before:N|after:N, N-th
# baseline file written) or pause between reading and writing the baselines (BENCH_PAUSE=seconds).
FAULTS = textwrap.dedent(
    """
    import os, signal, time

    def pytest_configure(config):
        kill, pause = os.environ.get("BENCH_KILL"), float(os.environ.get("BENCH_PAUSE", "0"))
        if kill:
            when, n = kill.split(":")
            n, seen, real_replace, real_fsync = int(n), [0, 0], os.replace, os.fsync
            def die(): os.kill(os.getpid(), signal.SIGKILL)
            def fsync(fd):
                if "baselines" in os.readlink(f"/proc/self/fd/{fd}"):
                    seen[0] += 1
                    if when == "fsync" and seen[0] == n: die()
                return real_fsync(fd)
            def replace(src, dst, *a, **k):
                if "baselines" in str(dst):
                    seen[1] += 1
                    if when == "before" and seen[1] == n: die()
                    real_replace(src, dst, *a, **k)
                    if when == "after" and seen[1] == n: die()
                    return None
                return real_replace(src, dst, *a, **k)
            os.fsync, os.replace = fsync, replace
        if pause:
            from pytest_compress import atomic
            real_write = atomic.write_bytes
            def slow_write(path, data):
                if "baselines" in str(path): time.sleep(pause)
                return real_write(path, data)
            atomic.write_bytes = slow_write
    """
)


class Project:
    def __init__(self, root: Path, cache: Path) -> None:
        self.root, self.cache = root, cache
        root.mkdir(parents=True, exist_ok=True)
        (root / "conftest.py").write_text(CONFTEST)
        (root / "test_model.py").write_text(TESTS)
        (root / "bench_faults.py").write_text(FAULTS)
        (root / "pytest.ini").write_text("[pytest]\ncompress_latency_budget = 0.1\ncompress_draws = 2\n")

    @property
    def quality(self) -> Path:
        return self.root / "baselines" / "test_model.json"

    @property
    def latency(self) -> Path:
        return next((self.root / "baselines" / "latency").glob("*.json"))

    def pytest(self, *args: str, env: dict[str, str] | None = None, timeout: float = TIMEOUT_S) -> tuple[int, str]:
        """(exit code, output); exit code None-like -1 on a hang."""
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "bench_faults",
               f"--compress-cache-dir={self.cache}", *args]  # fmt: skip
        full_env = {**os.environ, "PYTHONPATH": str(self.root), **(env or {})}
        try:
            out = subprocess.run(cmd, cwd=self.root, env=full_env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return -1, ""
        return out.returncode, out.stdout + out.stderr

    def record(self) -> None:
        code, out = self.pytest("--compress-update-baselines")
        if code != 0:
            raise SystemExit(f"recording the bench project's baselines failed:\n{out[-3000:]}")


def classify(code: int, out: str, name: str) -> str:
    if code == -1:
        return "hang"
    if "Traceback (most recent call last)" in out or "INTERNALERROR" in out:
        return "traceback"
    if code == 0:
        return "silent pass"
    return "clear" if name in out else "unclear"


def _place(path: Path, write: Writer) -> None:
    """Put ``write``'s thing at ``path``, whatever sits there now (never opening a FIFO left there)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
    write(path)


def malformed(projects: list[Project]) -> tuple[Counter, list[str]]:
    """Part 1: every variant on its own project copy (two runs at a time on two cores)."""
    base = projects[0]
    quality, latency = json.loads(base.quality.read_text()), json.loads(base.latency.read_text())
    nodeid = "test_model.py::test_int8"
    jobs = [("quality", base.quality.name, k, w) for k, w in file_variants(quality).items()]
    jobs += [("quality", base.quality.name, k, w) for k, w in entry_variants(quality, nodeid).items()]
    jobs += [("latency", base.latency.name, k, w) for k, w in file_variants(latency).items()]
    jobs += [("latency", base.latency.name, k, w) for k, w in entry_variants(latency, nodeid).items()]
    pristine = {p.root: (p.quality.read_bytes(), p.latency.read_bytes(), p.latency.name) for p in projects}

    def run(job: tuple[str, str, str, Writer], project: Project) -> tuple[str, str]:
        kind, name, label, write = job
        q_bytes, l_bytes, l_name = pristine[project.root]
        _place(project.quality, lambda p: p.write_bytes(q_bytes))
        lpath = project.root / "baselines" / "latency" / l_name
        _place(lpath, lambda p: p.write_bytes(l_bytes))
        _place(project.quality if kind == "quality" else lpath, write)
        code, out = project.pytest("-k", "int8")
        return f"{kind}: {label}", classify(code, out, name)

    free: queue.Queue[Project] = queue.Queue()
    for p in projects:
        free.put(p)

    def on_a_free_project(job: tuple[str, str, str, Writer]) -> tuple[str, str]:
        project = free.get()  # one run per project at a time
        try:
            return run(job, project)
        finally:
            free.put(project)

    counts: Counter = Counter()
    bad: list[str] = []
    with ThreadPoolExecutor(len(projects)) as pool:
        for label, outcome in pool.map(on_a_free_project, jobs):
            counts[outcome] += 1
            if outcome != "clear":
                bad.append(f"{label} -> {outcome}")
    return counts, bad


def killed(project: Project) -> tuple[int, int, list[str]]:
    """Part 2: kill -9 at each write phase of an update; (phases, phases left valid+consistent, problems)."""
    from pytest_compress.baselines import BaselineFileError, BaselineStore
    from pytest_compress.fingerprint import Fingerprint

    problems: list[str] = []
    phases = [f"{when}:{n}" for n in (1, 2) for when in ("fsync", "before", "after")]
    good = 0
    for phase in phases:
        project.record()  # a complete previous run
        code, _ = project.pytest("--compress-update-baselines", env={"BENCH_KILL": phase})
        ok = code == -9
        if not ok:
            problems.append(f"{phase}: the run was not killed (exit {code})")
        store = BaselineStore(project.quality.parent)
        try:
            json.loads(project.quality.read_text())
            fp = Fingerprint(**json.loads(project.latency.read_text())["fingerprint"])
            store.quality("test_model.py::test_int8")
            store.latency("test_model.py::test_int8", fp)
        except BaselineFileError as exc:
            if "cut short" not in str(exc):  # a mixed state, reported as such, is the design
                ok = False
                problems.append(f"{phase}: unusable after the kill ({exc})")
        except (OSError, ValueError) as exc:
            ok = False
            problems.append(f"{phase}: unusable after the kill ({exc})")
        for tmp in project.root.glob("baselines/**/.*.tmp"):
            rel = Path("baselines") / tmp.relative_to(project.root / "baselines")
            ignored = subprocess.run(["git", "-C", str(ROOT), "check-ignore", "-q", "--no-index", str(rel)]).returncode
            if ignored != 0:
                ok = False
                problems.append(f"{phase}: stray {rel} is not ignored by git")
        good += ok
    return len(phases), good, problems


def concurrent(project: Project, trials: int) -> tuple[int, int]:
    """Part 3: (entries expected, entries lost) over ``trials`` pairs of concurrent updaters."""
    expected = lost = 0
    for _ in range(trials):
        project.record()
        q, lat = json.loads(project.quality.read_text()), json.loads(project.latency.read_text())
        q["cases"] = {"test_model.py::test_other": q["cases"]["test_model.py::test_int8"]}
        lat["cases"] = {"test_model.py::test_other": lat["cases"]["test_model.py::test_int8"]}
        project.quality.write_text(json.dumps(q))
        project.latency.write_text(json.dumps(lat))
        env = {"BENCH_PAUSE": "2"}
        with ThreadPoolExecutor(2) as pool:
            runs = [
                pool.submit(project.pytest, "--compress-update-baselines", "-k", k, env=env) for k in ("int8", "prune")
            ]
            for r in runs:
                r.result()
        q_cases = {k.split("::")[-1] for k in json.loads(project.quality.read_text()).get("cases", {})}
        l_cases = {k.split("::")[-1] for k in json.loads(project.latency.read_text()).get("cases", {})}
        want = {"test_other", "test_int8", "test_prune"}
        expected += 2 * len(want)
        lost += len(want - q_cases) + len(want - l_cases)
    return expected, lost


def tampered_cache(project: Project) -> tuple[Counter, list[str]]:
    """Part 4: damage the reference's cache entry; the run must rebuild it."""
    from safetensors.torch import load

    from pytest_compress.formats.container import safetensors_metadata

    project.record()
    entry = next(p for p in (project.cache / "models").glob("blobs-mlp-*.safetensors"))
    pristine = entry.read_bytes()
    counts: Counter = Counter()
    bad: list[str] = []
    for label, write in cache_variants(load(pristine), safetensors_metadata(pristine)).items():
        _place(entry, write)
        code, out = project.pytest("-k", "prune")
        outcome = {"hang": "hang", "traceback": "crash"}.get(classify(code, out, entry.name), "")
        if not outcome:
            outcome = "rebuilt" if code == 0 else "crash"
        counts[outcome] += 1
        if outcome != "rebuilt":
            bad.append(f"cache: {label} -> {outcome} ({out.strip().splitlines()[-1] if out.strip() else ''})")
        _place(entry, lambda p: p.write_bytes(pristine))
    return counts, bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--trials", type=int, default=5, help="concurrent-updater trials")
    args = ap.parse_args()
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="compress-reliability-") as tmp:
        cache = Path(tmp) / "cache"
        projects = [Project(Path(tmp) / f"p{i}", cache) for i in range(2)]
        for p in projects:
            p.record()
        m_counts, m_bad = malformed(projects)
        phases, good, k_problems = killed(projects[0])
        expected, lost = concurrent(projects[1], args.trials)
        c_counts, c_bad = tampered_cache(Project(Path(tmp) / "p-cache", Path(tmp) / "cache-copy"))
    total = sum(m_counts.values())
    lines = [
        f"`python bench/reliability.py --trials {args.trials}` ({time.time() - start:.0f} s):",
        "",
        "| part | runs | outcome | target |",
        "|---|---|---|---|",
        f"| malformed baseline files ({total} variants: quality and latency, file and entry level) | {total} | "
        + ", ".join(f"{k} {v}" for k, v in sorted(m_counts.items()))
        + " | all clear |",
        f"| kill -9 at each write phase of an update | {phases} | {good} left both files valid and consistent or "
        "detectably mixed, no un-ignored temp file | all |",
        f"| two concurrent updaters, {args.trials} trials | {args.trials * 2} | "
        f"{lost} of {expected} entries lost | 0 lost |",
        f"| cache entry tampered ({sum(c_counts.values())} variants) | {sum(c_counts.values())} | "
        + ", ".join(f"{k} {v}" for k, v in sorted(c_counts.items()))
        + " | all rebuilt |",
    ]
    problems = m_bad + k_problems + c_bad
    if problems:
        lines += ["", "Not met:", *[f"- {p}" for p in problems]]
    emit(lines, args.out)


if __name__ == "__main__":
    main()
