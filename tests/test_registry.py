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
    assert NoConfig().to_dict() == {"type": "NoConfig", "version": 1, "fields": {}}


# -- built-in names and explicit overrides: independent of import order ------------------------


def _builtin_registry(tmp_path, monkeypatch, package: str) -> Registry[object]:
    """A registry whose built-ins live in ``package`` (a table) and ``package.precision`` (two
    names registered at import), like ``pytest_compress.methods`` and its ``precision.py``."""
    root = tmp_path / package
    root.mkdir()
    (root / "__init__.py").write_text(
        f"BUILTIN = {{'fp16': ('{package}.precision', 'float16'), 'bf16': ('{package}.precision', 'bfloat16')}}\n"
    )
    (root / "precision.py").write_text(
        "from tests.test_registry import REG\n\n"
        "def fp16():\n    'built-in fp16'\n\n"
        "def bf16():\n    'built-in bf16'\n\n"
        "REG.add('fp16', fp16)\nREG.add('bf16', bf16)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    reg: Registry[object] = Registry("method", builtins=package)
    globals()["REG"] = reg
    return reg


def test_an_override_registered_first_survives_the_builtin_module_import(tmp_path, monkeypatch) -> None:
    reg = _builtin_registry(tmp_path, monkeypatch, "builtins_override_first")

    def my_fp16() -> None: ...

    reg.add("fp16", my_fp16, override=True)  # a conftest, before anything imported precision
    assert reg.get("bf16").__module__ == "builtins_override_first.precision"  # its own fp16 collides with nothing
    assert reg.get("fp16") is my_fp16


def test_an_override_registered_after_the_builtin_module_import_wins(tmp_path, monkeypatch) -> None:
    reg = _builtin_registry(tmp_path, monkeypatch, "builtins_override_after")
    assert reg.get("fp16").__module__ == "builtins_override_after.precision"

    def my_fp16() -> None: ...

    reg.add("fp16", my_fp16, override=True)
    assert reg.get("fp16") is my_fp16 and reg.get("bf16").__name__ == "bf16"
    assert reg.names() == ["bf16", "fp16"]


@pytest.mark.parametrize("imported_first", [False, True])
def test_reusing_a_builtin_name_without_override_names_both(tmp_path, monkeypatch, imported_first: bool) -> None:
    package = f"builtins_reuse_{int(imported_first)}"
    reg = _builtin_registry(tmp_path, monkeypatch, package)
    if imported_first:
        reg.get("bf16")

    def my_fp16() -> None: ...

    with pytest.raises(ValueError) as exc:
        reg.add("fp16", my_fp16)
    assert str(exc.value) == (
        f"method 'fp16' is already registered by the built-in {package}.precision; "
        "tests.test_registry.test_reusing_a_builtin_name_without_override_names_both.<locals>.my_fp16 registers it "
        "again — pass override=True to replace the built-in, or pick another name"
    )
    assert reg.get("fp16").__module__ == f"{package}.precision"  # the built-in is untouched


def test_between_two_registrations_the_override_wins_whichever_comes_first() -> None:
    def theirs() -> None: ...

    def mine() -> None: ...

    for order in ((theirs, False), (mine, True)), ((mine, True), (theirs, False)):
        reg: Registry[object] = Registry("model")
        for target, override in order:
            reg.add("x", target, override=override)
        assert reg.get("x") is mine
    reg = Registry("model")
    reg.add("x", mine, override=True)
    with pytest.raises(ValueError, match=r"'x' is already registered with override=True by .*mine; .*theirs regis"):
        reg.add("x", theirs, override=True)


def test_register_model_refuses_a_builtin_name_without_override() -> None:
    from pytest_compress.spec import register_model

    with pytest.raises(ValueError, match=r"already registered by the built-in pytest_compress.zoo.digits; .*dup"):

        @register_model("digits-cnn")
        def dup() -> None: ...
