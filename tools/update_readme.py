"""Replace a generated block of the README with the contents of a file a command wrote.

Usage: python tools/update_readme.py BLOCK FILE [README.md]
The block sits between ``<!-- BLOCK:start -->`` and ``<!-- BLOCK:end -->``; the README's
numbers are therefore always the output of a command, never typed by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pytest_compress import atomic


def splice(readme: str, block: str, body: str) -> str:
    start, end = f"<!-- {block}:start -->", f"<!-- {block}:end -->"
    if start not in readme or end not in readme:
        raise SystemExit(f"README has no {start} ... {end} block")
    head, rest = readme.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body.strip()}\n{end}{tail}"


def main(argv: list[str]) -> None:
    if len(argv) not in (2, 3):
        raise SystemExit(__doc__)
    block, source = argv[0], Path(argv[1])
    readme = Path(argv[2] if len(argv) == 3 else "README.md")
    text = splice(readme.read_text(encoding="utf-8"), block, source.read_text(encoding="utf-8"))
    atomic.write_text(readme, text)


if __name__ == "__main__":
    main(sys.argv[1:])
