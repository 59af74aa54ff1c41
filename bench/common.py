"""What every benchmark script does: parse --out/--cache-dir, open the model store, print its table."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pytest_compress.models import ModelStore


def setup(description: str) -> tuple[argparse.Namespace, ModelStore]:
    """Command-line arguments and a store of the built-in models (trained once, cached)."""
    from pytest_compress import methods, zoo
    from pytest_compress.cache import ModelCache
    from pytest_compress.models import ModelStore

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=None, help="also write the table to this file")
    parser.add_argument("--cache-dir", type=Path, default=Path(".compress-cache"))
    args = parser.parse_args()
    methods.declare_builtins()
    zoo.declare_builtins()
    return args, ModelStore(ModelCache(args.cache_dir))


def emit(lines: list[str], out: Path | None) -> None:
    text = "\n".join(lines) + "\n"
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
