"""Machine fingerprint that keys latency baselines.

Only stable facts: CPU model, logical core count, architecture, torch version, the thread count
used for timing and the kernel set torch dispatches to (``torch.backends.cpu.get_cpu_capability()``
plus a oneDNN ISA cap if one is set). Never the clock speed, which changes from second to second.

The kernel set is there because the CPU model name is not enough: AMD EPYC machines with AVX2 only
and with AVX-512 VNNI both report "AMD EPYC", and int8 speedups differ ~2x between the two; and
``ATEN_CPU_CAPABILITY=avx2`` on an AVX-512 machine is, for timing, another machine.

Plugins add facts of their own (a GPU driver, a power profile) with the
``pytest_compress_fingerprint`` hook: they land in ``extra`` and so in the key.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Fingerprint:
    cpu: str
    cores: int
    machine: str
    torch: str
    threads: int
    device: str = "cpu"
    kernels: str = ""
    # Facts plugins added (``pytest_compress_fingerprint``), sorted (name, value) pairs.
    extra: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        # From JSON (a baseline file, a result from an xdist worker) it is a list of pairs or a dict.
        object.__setattr__(self, "extra", normal_extra(self.extra))

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        if not self.extra:
            del d["extra"]  # so every fingerprint without plugin facts keeps the key it always had
        else:
            d["extra"] = [list(pair) for pair in self.extra]
        return d

    @property
    def slug(self) -> str:
        """A readable, file-name-safe key, with a short hash so near-identical names never collide."""
        digest = hashlib.sha256(repr(sorted(self.to_dict().items())).encode()).hexdigest()[:8]
        cpu = re.sub(r"[^a-z0-9]+", "-", self.cpu.lower()).strip("-")[:40]
        return f"{cpu}-{self.cores}c-{self.device}-t{self.threads}-{digest}"


def normal_extra(extra: Mapping[str, Any] | Any) -> tuple[tuple[str, str], ...]:
    pairs = extra.items() if isinstance(extra, Mapping) else extra
    return tuple(sorted((str(k), str(v)) for k, v in pairs))


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown-cpu"


def kernel_set(cpu_capability: str) -> str:
    """``torch.backends.cpu.get_cpu_capability()`` plus the oneDNN ISA cap when one is set."""
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "")
    return f"{cpu_capability}+onednn={isa.lower()}" if isa else cpu_capability


def current(torch_version: str, threads: int, device: str = "cpu", cpu_capability: str = "") -> Fingerprint:
    return Fingerprint(
        cpu=cpu_model(),
        cores=os.cpu_count() or 1,
        machine=platform.machine(),
        torch=str(torch_version),
        threads=threads,
        device=device,
        kernels=kernel_set(cpu_capability) if cpu_capability else "",
    )
