"""Peak memory of one inference: what it costs to hold a model and run it once, on its own.

Why not measure in the pytest process: it already holds the reference, the compressed model,
the datasets and the caches, and its peak resident size (``VmHWM``) is the high-water mark of
everything it ever did. Neither says what *one* model costs.

CPU (``cpu-rss``): a child process is forked right here, and in it

1. the model is copied and run once untimed and unmeasured, so one-time lazy state (kernel
   caches, thread pools, first-call initialisation) is not counted as the model's, and freed;
2. glibc's free heap pages are handed back to the kernel (``malloc_trim(0)``): a fork inherits
   the parent's malloc free lists, already resident, and tensors reusing them would raise no
   page count, so without this the measurement reads low;
3. the peak is reset to the current resident size (``5`` into ``/proc/self/clear_refs``; a
   forked child's ``VmHWM`` starts at its resident size anyway) and that size is the baseline;
4. the model is copied (``copy.deepcopy``: its weights become new pages, as loading it would
   make them) and run once on the example inputs under ``torch.no_grad()``;
5. the result is ``VmHWM - baseline``: the weights plus inference's peak working memory
   (activations, temporaries, any unpacking a packed format does), and nothing the parent held.

Why fork, not spawn: a spawned interpreter must rebuild the module from a pickle, and the
modules under test are whatever a conftest's ``build()`` or a method returns, often classes
local to a function, which do not pickle. A fork runs the very module object the gates judge.
The parent's pages are
already mapped in the child at the fork, so they are part of the baseline (a copy-on-write
swaps a shared page for a private one: no rise). Reads of the parent's model therefore never
show up, which is why the child copies the model and runs the copy: the copy's pages are what
loading it costs. The child runs torch on one thread (intra-op pools do not survive a
fork), as DataLoader workers do. Linux only (``/proc``); elsewhere nothing is measured.

CUDA (``cuda-allocated``): in-process, ``torch.cuda.reset_peak_memory_stats()`` then
``max_memory_allocated() - memory_allocated()`` around the copy and the call. That counter is
the caching allocator's own bookkeeping of live tensors since the reset, so what the process
already holds is subtracted exactly and nothing else in the process moves it (cuDNN workspaces
allocated outside the caching allocator are not counted). CUDA cannot be used in a forked child.
"""

from __future__ import annotations

import copy
import ctypes
import gc
import json
import os
import select
import signal
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_compress.results import MemoryResult

if TYPE_CHECKING:
    import torch
    from torch import nn

CPU_RSS = "cpu-rss"
CUDA_ALLOCATED = "cuda-allocated"
CHILD_TIMEOUT_S = 300.0


class MemoryUnavailable(RuntimeError):
    """Peak memory cannot be measured here (no ``/proc``, no fork); the message says why."""


@dataclass(frozen=True)
class Peak:
    bytes: int
    kind: str  # CPU_RSS | CUDA_ALLOCATED


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise MemoryUnavailable(f"/proc/self/status has no {field}")


def _trim_heap() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def _reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:  # old kernel: a fresh fork's VmHWM already starts at its resident size
        pass


def _run_once(module: nn.Module, inputs: tuple[Any, ...], device: str) -> None:
    import torch

    work = copy.deepcopy(module)
    with torch.no_grad():
        work(*(x.to(device) if isinstance(x, torch.Tensor) else x for x in inputs))


def _child(module: nn.Module, inputs: tuple[Any, ...], write_fd: int) -> None:
    import torch

    torch.set_num_threads(1)
    _run_once(module, inputs, "cpu")  # warm-up: torch's one-time lazy state is not the model's
    gc.collect()
    _trim_heap()
    _reset_peak()
    before = _status_kib("VmRSS")
    _run_once(module, inputs, "cpu")
    peak = _status_kib("VmHWM")
    os.write(write_fd, json.dumps({"bytes": max(0, peak - before) * 1024}).encode())


def cpu_peak(module: nn.Module, inputs: tuple[Any, ...], timeout_s: float = CHILD_TIMEOUT_S) -> Peak:
    """Peak resident bytes of copying ``module`` and running it once, in a forked child (see the
    module docstring)."""
    if not hasattr(os, "fork") or not os.path.exists("/proc/self/clear_refs"):
        raise MemoryUnavailable("peak memory needs Linux (fork and /proc/self/status)")
    read_fd, write_fd = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns on forking a threaded process; the child uses only its own thread.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never return into pytest
        code = 1
        try:
            os.close(read_fd)
            _child(module, inputs, write_fd)
            code = 0
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which raises
            try:
                os.write(write_fd, json.dumps({"error": repr(exc)[:500]}).encode())
            except BaseException:  # noqa: BLE001
                pass
        finally:
            os._exit(code)
    os.close(write_fd)
    try:
        raw = _read_all(read_fd, pid, timeout_s)
    finally:
        os.close(read_fd)
        _reap(pid)
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        data = {}
    if "bytes" not in data:
        raise MemoryUnavailable(f"the peak-memory child failed: {data.get('error', 'no result (it crashed)')}")
    return Peak(int(data["bytes"]), CPU_RSS)


def _read_all(fd: int, pid: int, timeout_s: float) -> bytes:
    chunks, deadline = [], time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            os.kill(pid, signal.SIGKILL)
            raise MemoryUnavailable(f"the peak-memory child ran past {timeout_s:.0f} s and was killed")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def cuda_peak(module: nn.Module, inputs: tuple[Any, ...], device: str) -> Peak:
    """Peak CUDA bytes allocated by copying ``module`` and running it once (see the module docstring)."""
    import torch

    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    _run_once(module, inputs, device)
    torch.cuda.synchronize(device)
    return Peak(max(0, torch.cuda.max_memory_allocated(device) - before), CUDA_ALLOCATED)


def _device_of(module: nn.Module, fallback: str) -> str:
    for t in (*module.parameters(), *module.buffers()):
        return str(t.device)
    return fallback


def peak(module: nn.Module, inputs: tuple[torch.Tensor, ...] | tuple[Any, ...], device: str) -> Peak:
    """One model's peak: CUDA-allocated when it lives on a GPU, the forked child's RSS otherwise."""
    where = _device_of(module, device)
    if where.startswith("cuda"):
        return cuda_peak(module, inputs, where)
    return cpu_peak(module, inputs)


def measure_pair(
    reference: nn.Module, compressed: nn.Module, inputs: tuple[Any, ...], device: str, compressed_device: str
) -> MemoryResult:
    """Both models' peaks on the same example inputs."""
    ref = peak(reference, inputs, device)
    cmp = peak(compressed, inputs, compressed_device)
    return MemoryResult(
        reference_bytes=ref.bytes, compressed_bytes=cmp.bytes, reference_kind=ref.kind, compressed_kind=cmp.kind
    )
