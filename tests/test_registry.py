from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from pytest_compress.registry import Registry, UnknownNameError
from pytest_compress.spec import Method, MethodConfig, NoConfig, register_method


def test_unknown_name_lists_registered_names() -> None:
    reg: Registry[int] = Registry("widget")
    reg.add("b", 2)
    reg.declare("a", "some.module")
    with pytest.raises(UnknownNameError, match="unknown widget 'c'; registered widgets: a, b"):
        reg.get("c")


def test_declared_entries_import_their_module_on_first_use(tmp_path, monkeypatch) -> None:
    reg: Registry[int] = Registry("widget")
    (tmp_path / "lazy_widgets_mod.py").write_text("from tests.test_registry import REG\nREG.add('lazy', 42)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    globals()["REG"] = reg
    reg.declare("lazy", "lazy_widgets_mod")
    assert "lazy_widgets_mod" not in sys.modules
    assert reg.get("lazy") == 42


def test_same_name_from_another_place_is_an_error() -> None:
    reg: Registry[object] = Registry("widget")

    def f() -> None: ...

    def g() -> None: ...

    reg.add("x", f)
    reg.add("x", f)  # the same function again (a re-import) is fine
    with pytest.raises(ValueError, match="already registered by"):
        reg.add("x", g)


@dataclass(frozen=True)
class _Cfg(MethodConfig):
    bits: int = 8

    def __post_init__(self) -> None:
        if self.bits not in (4, 8):
            raise ValueError("bits must be 4 or 8")


def test_method_config_validation_and_labels() -> None:
    m = Method("m", _Cfg, lambda model, cfg, ctx: model)
    assert m.make_config(None) == _Cfg()
    assert m.make_config({"bits": 4}).label() == "bits=4"
    assert _Cfg().label() == ""
    with pytest.raises(ValueError, match="has no option.s. bts; valid options: bits"):
        m.make_config({"bts": 4})
    with pytest.raises(ValueError, match="bits must be 4 or 8"):
        m.make_config({"bits": 3})


def test_register_method_rejects_a_non_config() -> None:
    with pytest.raises(TypeError, match="MethodConfig"):
        register_method("bad", config=dict)  # type: ignore[arg-type]
    assert NoConfig().to_dict() == {}
