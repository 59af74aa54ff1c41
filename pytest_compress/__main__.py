"""``python -m pytest_compress merge SHARD.json ...``: the plugin's commands outside pytest (``merge.py``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

COMMANDS = {"merge": "merge CI shards' JSON reports into one report and one baseline update"}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in COMMANDS:
        usage = "\n".join(f"  {name:8} {what}" for name, what in COMMANDS.items())
        print(f"usage: python -m pytest_compress COMMAND ...\ncommands:\n{usage}", file=sys.stderr)
        return 0 if args[:1] in (["-h"], ["--help"]) else 2
    from pytest_compress import merge

    return merge.main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
