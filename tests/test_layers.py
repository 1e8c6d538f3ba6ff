"""Imports flow one way: a subpackage imports only its own modules and lower subpackages.

The folders of muzo_lib are its layers, lowest first in :data:`LAYERS` (lazy, function-local
imports count too). A new subpackage or top-level module must be placed here, so the map stays
the truth about the package.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "muzo_lib"

#: lowest first; a subpackage may import its own modules and those of lower ones
LAYERS = [
    ["io"],           # paths, audio decoding, progress, timing, logging, safe model files
    ["features"],     # log-mel front ends, hand-made descriptors, augmentation, the per-track cache
    ["data"],         # manifests, splits, run folders, the generator
    ["evaluation"],   # metrics with intervals, cross-validation results
    ["models"],       # networks, class tree, forest, musicnn, model kinds, devices
    ["training"],     # the loop, checkpoints, DDP
    ["inference"],    # predictors, ONNX, export, streaming, ensemble
    ["serve"],        # the HTTP service of `muzo serve` and its limits
    ["plots"],
    ["course"],       # course defaults, training per notebook, experiments, runner, seed-style API
    ["cli"],
    ["__init__", "__main__"],
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}
#: thin re-exports that nothing inside muzo_lib may import: the old homes that model files saved
#: before the subpackages name (skops records a class's module), and the seed document's module name
COMPAT = {"forest", "pretrained", "cnn_model_training"}


def _part(path: Path) -> str:
    """``muzo_lib/data/synth/styles.py`` -> ``data``: the subpackage (layer) a file belongs to."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    """The subpackages (or top-level modules) of muzo_lib that ``path`` imports."""
    package = list(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = package[: len(package) - (node.level - 1)]
            target = base + (node.module.split(".") if node.module else [])
            if len(target) > 1:
                names.add(target[1])
            else:
                names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("muzo_lib."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("muzo_lib.")}
    return names


def test_every_subpackage_has_a_layer():
    parts = {_part(p) for p in PACKAGE.rglob("*.py")} - COMPAT
    assert not parts - set(LAYER), f"place these in LAYERS: {sorted(parts - set(LAYER))}"


def test_imports_flow_one_way():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        me = _part(path)
        if me in COMPAT:
            continue
        for other in _imports(path) - {me}:
            if other in COMPAT:
                upward.append(f"{path.relative_to(PACKAGE)} imports the compatibility module {other}")
            elif other in LAYER and LAYER[other] > LAYER.get(me, -1):
                upward.append(f"{path.relative_to(PACKAGE)} imports {other}")
    assert not upward, "imports against the layering:\n" + "\n".join(sorted(upward))


def test_compatibility_modules_only_re_export():
    """The old homes hold no code of their own: every name comes from the new module."""
    for path in [PACKAGE / "forest.py", PACKAGE / "cnn_model_training.py", *sorted((PACKAGE / "pretrained").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        body = [n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
                and not (isinstance(n, ast.Assign) and [t.id for t in n.targets] == ["__all__"])]
        assert all(isinstance(n, ast.ImportFrom) and n.module.startswith("muzo_lib.") for n in body), path
