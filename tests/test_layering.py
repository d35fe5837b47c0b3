"""The rooms of docs/design.md import only downward: every module of the package, every import
in it (at the top or inside a function), against the order of the table on that page.

The table is the source of truth: a room added to the package without a row, or an import that
points up, fails here with the module and the import named.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import tensoralgebra as ta

PACKAGE = Path(ta.__file__).parent
DESIGN = PACKAGE.parent / "docs" / "design.md"

#: Upward imports the design page names as deliberate, each with where it is explained.
DOCUMENTED_EXCEPTIONS = {
    # "Weights.save, Weights.load, Weights.from_state_dict and Weights.from_transformer_lens are
    # one-line methods that import io/ when called" (docs/design.md, Mechanisms).
    ("numeric/weights.py", "io"),
}


def rooms() -> list[str]:
    """The rooms in the order of the design page's table, lowest first: each a module
    (``errors.py``) or a folder (``training/data/``)."""
    order = []
    for line in DESIGN.read_text().splitlines():
        cell = line.split("|")[1] if line.startswith("| `") else ""
        order.extend(name.rstrip("/") for name in re.findall(r"`([\w/.]+)`", cell))
    return [name.removesuffix(".py") for name in order]


ORDER = rooms()


def room_of(module: str) -> str:
    """The room of ``module``, a path under the package without ``.py`` (``numeric/model``):
    the longest room that is it or contains it."""
    candidates = [r for r in ORDER if module == r or module.startswith(r + "/")]
    if not candidates:
        raise AssertionError(f"tensoralgebra/{module}.py is in no room of docs/design.md's table")
    return max(candidates, key=len)


def imports(path: Path) -> set[str]:
    """The package's modules imported by ``path`` anywhere in it, as paths (``numeric/model``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("tensoralgebra."):
                module = name.removeprefix("tensoralgebra.").replace(".", "/")
                if (PACKAGE / f"{module}.py").exists() or (PACKAGE / module).is_dir():
                    found.add(module)
    return found


MODULES = sorted(
    p
    for p in PACKAGE.rglob("*.py")
    if p.name not in ("__init__.py", "__main__.py") or p.parent != PACKAGE
)


def test_the_table_names_the_rooms_in_an_order():
    assert ORDER[:2] == ["errors", "validation"] and ORDER[-1] == "cli"
    assert len(ORDER) == len(set(ORDER)), "a room is listed twice"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_every_import_points_down(path):
    module = str(path.relative_to(PACKAGE).with_suffix("")).removesuffix("/__init__")
    mine = ORDER.index(room_of(module))
    upward = []
    for target in sorted(imports(path)):
        theirs = room_of(target)
        exempt = (str(path.relative_to(PACKAGE)), theirs) in DOCUMENTED_EXCEPTIONS
        if ORDER.index(theirs) > mine and not exempt:
            upward.append(f"{target} (room {theirs})")
    assert not upward, f"{module} (room {room_of(module)}) imports upward: {upward}"
