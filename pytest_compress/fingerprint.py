"""Machine fingerprint that keys latency baselines.

Only stable facts: CPU model, logical core count, architecture, torch version and the thread
count used for timing. Never the clock speed, which changes from second to second.
"""

from __future__ import annotations

import hashlib
import os
import platform
import re
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Fingerprint:
    cpu: str
    cores: int
    machine: str
    torch: str
    threads: int
    device: str = "cpu"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @property
    def slug(self) -> str:
        """A readable, file-name-safe key, with a short hash so near-identical names never collide."""
        digest = hashlib.sha256(repr(sorted(self.to_dict().items())).encode()).hexdigest()[:8]
        cpu = re.sub(r"[^a-z0-9]+", "-", self.cpu.lower()).strip("-")[:40]
        return f"{cpu}-{self.cores}c-{self.device}-t{self.threads}-{digest}"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown-cpu"


def current(torch_version: str, threads: int, device: str = "cpu") -> Fingerprint:
    return Fingerprint(
        cpu=cpu_model(),
        cores=os.cpu_count() or 1,
        machine=platform.machine(),
        torch=torch_version,
        threads=threads,
        device=device,
    )
