from __future__ import annotations

import pytest

from tools.update_readme import splice


def test_splice_replaces_only_the_named_block() -> None:
    readme = "a\n<!-- x:start -->\nold\n<!-- x:end -->\nb\n<!-- y:start -->\nkeep\n<!-- y:end -->\n"
    out = splice(readme, "x", "new table\n")
    assert out == "a\n<!-- x:start -->\nnew table\n<!-- x:end -->\nb\n<!-- y:start -->\nkeep\n<!-- y:end -->\n"


def test_missing_block_is_an_error() -> None:
    with pytest.raises(SystemExit, match="no <!-- z:start -->"):
        splice("nothing here", "z", "x")
