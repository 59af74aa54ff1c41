"""Replace the README's generated results block with a markdown report written by the plugin.

Usage: python tools/update_readme.py REPORT.md [README.md]
The block sits between ``<!-- results:start -->`` and ``<!-- results:end -->``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pytest_compress import atomic

START, END = "<!-- results:start -->", "<!-- results:end -->"


def splice(readme: str, block: str) -> str:
    if START not in readme or END not in readme:
        raise SystemExit(f"README has no {START} ... {END} block")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{block.strip()}\n{END}{tail}"


def main(argv: list[str]) -> None:
    if len(argv) not in (1, 2):
        raise SystemExit(__doc__)
    report = Path(argv[0])
    readme = Path(argv[1] if len(argv) == 2 else "README.md")
    atomic.write_text(readme, splice(readme.read_text(encoding="utf-8"), report.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main(sys.argv[1:])
