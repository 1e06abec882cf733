"""The installed package: its native module, stubs and version."""

from __future__ import annotations

import re
from pathlib import Path

import galore_lab
from conftest import REPO


def test_the_package_ships_its_stubs_and_the_workspace_version() -> None:
    here = Path(galore_lab.__file__).parent
    assert (here / "py.typed").is_file()
    assert (here / "_native.pyi").is_file()
    cargo = (REPO / "Cargo.toml").read_text()
    (version,) = re.findall(r'^version = "([^"]+)"', cargo, flags=re.MULTILINE)
    assert galore_lab.__version__ == version


def test_every_public_name_is_documented() -> None:
    for name in galore_lab.__all__:
        obj = getattr(galore_lab, name)
        if callable(obj):
            assert obj.__doc__, f"galore_lab.{name} has no docstring"
