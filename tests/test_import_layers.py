"""The house reads one way: no import runs from a lower part of `kap` to a higher one.

Layers, lowest first (README.md): `lib` ← `content` ← `journal`, `practices`, `accounts` ←
`progress`, `care`, `exports`, `ops` ← the project's own modules (`kap.views`, `kap.urls`,
`kap.cli`, `kap.settings`, `kap.wsgi`). A module may import its own layer's packages only when no
cycle between packages (of any length) results, and never a private name (`_something`) of another module.

Every import counts, at the top of a module or inside a function: an import hidden in a function
still ties the two parts together.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KAP = ROOT / "kap"

LAYERS = [
    {"lib"},
    {"content"},
    # Accounts (people, sign-in, two factors) need the content's regions; nothing here needs
    # them but by foreign key, which names a model without importing it.
    {"journal", "practices", "accounts"},
    {"progress", "care", "exports", "ops", "offline"},
]
TOP = "(project)"  # kap/*.py: views, urls, cli, settings, wsgi


def layer_of(part: str) -> int:
    for n, parts in enumerate(LAYERS):
        if part in parts:
            return n
    assert part == TOP, f"kap/{part}/ is in no layer: add it to LAYERS in {__name__}"
    return len(LAYERS)


def part_of(module: str) -> str | None:
    """'kap.care.views' → 'care'; 'kap.views' → TOP; outside kap → None."""
    bits = module.split(".")
    if bits[0] != "kap":
        return None
    if len(bits) == 1:
        return TOP
    return bits[1] if (KAP / bits[1]).is_dir() else TOP


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    bits = list(rel.parts)
    if bits[-1] == "__init__":
        bits.pop()
    return ".".join(bits)


def imports(path: Path, here: str | None = None):
    """(line, imported module, names taken from it) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = here or module_name(path)
    package = here if path.name == "__init__.py" else here.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield node.lineno, target, [a.name for a in node.names]


def code_files():
    for path in sorted(KAP.rglob("*.py")):
        if "migrations" in path.parts:
            continue  # a migration records history; it may name any app's models
        yield path


def _edges():
    for path in code_files():
        here = part_of(module_name(path))
        for line, target, names in imports(path):
            there = part_of(target)
            if there is None:
                continue
            yield path, line, here, target, there, names


def test_every_part_of_kap_has_a_layer():
    for child in KAP.iterdir():
        if child.is_dir() and (child / "__init__.py").exists():
            layer_of(child.name)


def test_no_import_runs_up_the_layers():
    upward = [
        f"{path.relative_to(ROOT)}:{line}: {here} imports {target} ({there} is above {here})"
        for path, line, here, target, there, _ in _edges()
        if here != there and layer_of(there) > layer_of(here)
    ]
    assert upward == [], "imports running up the house:\n" + "\n".join(upward)


def cycle_in(uses: dict[str, set[str]]) -> list[str]:
    """A cycle of parts importing one another (a → b → … → a), of any length; [] when none."""
    try:
        TopologicalSorter(uses).prepare()
    except CycleError as e:
        return list(e.args[1])
    return []


def test_no_parts_import_each_other_in_a_cycle_of_any_length():
    uses: dict[str, dict[str, str]] = defaultdict(dict)
    for path, line, here, target, there, _ in _edges():
        if here != there:
            uses[here].setdefault(there, f"{path.relative_to(ROOT)}:{line} ({target})")
    cycle = cycle_in({part: set(used) for part, used in uses.items()})
    # graphlib gives the cycle against the arrows' direction: each part is imported by the next.
    steps = [f"{b} imports {a}: {uses[b][a]}" for a, b in zip(cycle, cycle[1:], strict=False)]
    assert cycle == [], "parts that import one another in a cycle:\n" + "\n".join(steps)


def test_a_cycle_through_three_parts_is_found():
    assert cycle_in({"care": {"progress"}, "progress": {"exports"}, "exports": set()}) == []
    cycle = cycle_in({"care": {"progress"}, "progress": {"exports"}, "exports": {"care"}})
    assert set(cycle) == {"care", "progress", "exports"} and cycle[0] == cycle[-1]


def test_no_private_name_is_imported_from_another_module():
    private = [
        f"{path.relative_to(ROOT)}:{line}: {name} from {target}"
        for path, line, _, target, _, names in _edges()
        for name in names
        if name.startswith("_") and not name.startswith("__") and target != module_name(path)
    ]
    assert private == [], "private names used across modules:\n" + "\n".join(private)


def test_the_walk_sees_imports_inside_functions_and_relative_ones(tmp_path):
    module = tmp_path / "alerts.py"
    module.write_text(
        "import kap.lib.crypto\n"
        "def f():\n    from kap.care.alerts import on_safety_event\n"
        "from .models import _private\n"
    )
    found = sorted((target, names) for _, target, names in imports(module, "kap.journal.alerts"))
    assert found == [
        ("kap.care.alerts", ["on_safety_event"]),
        ("kap.journal.models", ["_private"]),
        ("kap.lib.crypto", []),
    ]
