"""The import graph of ``secured/`` follows the layers of ARCHITECTURE.md: no import runs up
a layer, privacy never reaches SMPC or Ray, and no module takes a private name (or a private
module) of another package."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "secured"

# layer of each top-level part of the package; a module may import its own layer and below
LAYERS = {
    "exceptions": 0, "_config": 0, "progress": 0, "io": 0, "__init__": 0,
    "_kernels": 1, "backend": 2, "data": 2,
    "mpc": 3, "privacy": 3,
    "synth": 4, "bias": 4, "federation": 4,
    "hub": 5,
    "cluster": 6, "jobs": 6,
    "bench": 7, "demo": 8, "cli": 8, "client": 8,
}
# siblings that must not see each other: the data flow never loads the SMPC engine
FORBIDDEN = {("privacy", "mpc"), ("mpc", "privacy"), ("privacy", "hub")}


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else "__init__"


def _imports(path: Path):
    rel = path.relative_to(ROOT.parent).with_suffix("")
    here = ".".join(rel.parts)
    package = here.rsplit(".", 1)[0] if path.name != "__init__.py" else here.rsplit(".", 1)[0]
    if path.name == "__init__.py":
        package = ".".join(rel.parts[:-1])
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "secured" or target.startswith("secured."):
                yield here, target, [a.name for a in node.names], node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("secured."):
                    yield here, alias.name, [], node.lineno


def _violations():
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for here, target, names, line in _imports(path):
            src, dst = _part(here), _part(target)
            if src not in LAYERS or dst not in LAYERS:
                out.append(f"{here}:{line} imports {target}: unknown part of the package")
                continue
            if LAYERS[dst] > LAYERS[src] and not (src == "__init__"):
                out.append(f"{here}:{line} imports {target}: runs up the layers ({src} -> {dst})")
            if (src, dst) in FORBIDDEN:
                out.append(f"{here}:{line} imports {target}: {src} must not depend on {dst}")
            same = src == dst
            if not same:
                private_module = any(p.startswith("_") and p != "__init__" for p in target.split(".")[2:])
                private_names = [n for n in names if n.startswith("_") and not n.endswith("__")]
                if (private_module and dst != "_kernels") or private_names:
                    if not (dst == "_kernels" and src == "backend"):
                        out.append(f"{here}:{line} takes private {target} {private_names or ''} across packages")
            if dst == "_kernels" and src not in ("backend", "_kernels"):
                out.append(f"{here}:{line} imports the compiled core outside secured.backend")
    return out


def test_imports_follow_the_layers():
    assert _violations() == []
