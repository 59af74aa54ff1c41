"""Print the environment that makes this machine train and run like another one.

Trained weights depend on the CPU's float kernels, so CI emulates "another machine" by running
the suite with torch dispatched to a lower kernel set than this CPU's best (and oneDNN capped
to match): AVX-512 machines run as AVX2, AVX2 machines as the non-vectorised default.

Usage: env $(python tools/other_kernels.py) pytest suites/ ...
"""

from __future__ import annotations

import sys

import torch

OTHER = {
    "AVX512": "ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2",
    "AVX2": "ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41",
}


def main() -> None:
    capability = torch.backends.cpu.get_cpu_capability()
    for prefix, env in OTHER.items():
        if capability.startswith(prefix):
            print(env)
            return
    sys.exit(f"other_kernels: this CPU's kernel set is {capability!r}; there is no lower one to emulate")


if __name__ == "__main__":
    main()
