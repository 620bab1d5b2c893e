"""The console-script guard (prosem_ros.console): Ctrl-C during the node module's import is a clean
stop, including when a C extension reports it as `ImportError: initialization failed`; any other
import error still surfaces."""
from __future__ import annotations

import sys
import types

import pytest

from prosem_ros.console import guarded_main, interrupted


def _install(monkeypatch, name: str, exc: BaseException) -> None:
    """A module finder that raises `exc` when `name` is imported."""
    class Finder:
        def find_spec(self, fullname, path=None, target=None):
            if fullname == name:
                raise exc
            return None
    monkeypatch.setattr(sys, "meta_path", [Finder(), *sys.meta_path])


def _import_error_from_interrupt() -> ImportError:
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as ki:
            raise ImportError("initialization failed") from ki
    except ImportError as err:
        return err


def test_a_plain_ctrl_c_during_import_exits_0(monkeypatch):
    _install(monkeypatch, "prosem_fake_node_a", KeyboardInterrupt())
    assert guarded_main("prosem_fake_node_a", []) == 0


def test_an_extension_init_interrupted_by_ctrl_c_exits_0(monkeypatch):
    err = _import_error_from_interrupt()
    assert interrupted(err)
    _install(monkeypatch, "prosem_fake_node_b", err)
    assert guarded_main("prosem_fake_node_b", []) == 0


def test_a_real_import_error_still_raises(monkeypatch):
    _install(monkeypatch, "prosem_fake_node_c", ImportError("No module named 'missing_dep'"))
    assert not interrupted(ImportError("x"))
    with pytest.raises(ImportError, match="missing_dep"):
        guarded_main("prosem_fake_node_c", [])


def test_main_runs_with_the_args_when_the_import_succeeds(monkeypatch):
    mod = types.ModuleType("prosem_fake_node_d")
    mod.main = lambda args: 7 if args == ["x"] else 1
    monkeypatch.setitem(sys.modules, "prosem_fake_node_d", mod)
    assert guarded_main("prosem_fake_node_d", ["x"]) == 7
