"""The package's shape, checked: folders depend one way only, no module reaches into another's
private names, no re-export facades, no module much over 550 lines, and ``import vidstyle`` is light."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vidstyle"

# settings, errors < core < media < video, tools < live, scale < cli. Folders of one rank do not
# import each other (video and tools are siblings, so are live and scale).
RANK = {"settings": 0, "errors": 0, "core": 1, "media": 2, "video": 3, "tools": 3, "live": 4, "scale": 4,
        "cli": 5, "__init__": 6, "__main__": 6}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def part_of(path: Path) -> str:
    """The architectural part a module belongs to: its folder, or its own name at the top."""
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(absolute vidstyle module, imported names, line) of every import in ``path``, nested ones too."""
    package = ["vidstyle", *path.relative_to(PACKAGE).parent.parts]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module.split(".") if node.module else [])])
            names = [alias.name for alias in node.names]
            if module == "vidstyle" or module.startswith("vidstyle."):
                # "from . import x" / "from ..video import chain": the names may be modules themselves
                found.append((module, names, node.lineno))
        elif isinstance(node, ast.Import):
            found += [(alias.name, [], node.lineno) for alias in node.names if alias.name.startswith("vidstyle")]
    return found


def target_part(module: str) -> str | None:
    parts = module.split(".")[1:]
    return parts[0] if parts else None


def test_dependencies_point_one_way():
    wrong = []
    for path in modules():
        mine = part_of(path)
        for module, _, line in imports(path):
            theirs = target_part(module)
            if theirs is None or theirs == mine:
                continue
            if RANK[theirs] >= RANK[mine]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({mine}) imports {module} ({theirs})")
    assert not wrong, "\n".join(wrong)


def test_no_module_imports_another_modules_private_names():
    wrong = [f"{path.relative_to(PACKAGE.parent)}:{line} imports {name} from {module}"
             for path in modules() for module, names, line in imports(path)
             for name in names if name.startswith("_") and not name.startswith("__")]
    assert not wrong, "\n".join(wrong)


def test_no_re_export_facades():
    """``__all__`` lists only what a module defines itself."""
    wrong = []
    for path in modules():
        tree = ast.parse(path.read_text())
        defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
        defined |= {target.id for node in tree.body if isinstance(node, ast.Assign)
                    for target in node.targets if isinstance(target, ast.Name)}
        defined |= {node.target.id for node in tree.body
                    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)}
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
                wrong += [f"{path.relative_to(PACKAGE.parent)}: {name}" for name in ast.literal_eval(node.value)
                          if name not in defined]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_small(path):
    assert path.read_text().count("\n") <= 550


def test_the_checks_see_the_layout():
    """Guard the guard: every folder is known, and the import parser finds cross-folder imports."""
    assert {part_of(path) for path in modules()} <= set(RANK)
    chain = PACKAGE / "video" / "chain.py"
    assert ("vidstyle.core.stylizer", ["Stylizer", "StylizeResult", "Temporal"]) in [
        (module, names) for module, names, _ in imports(chain)]


def test_importing_the_package_loads_no_heavy_module():
    code = "import sys, vidstyle; print(sorted({'torch', 'cv2', 'av'} & set(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"
