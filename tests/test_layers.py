"""Imports flow one way: a module imports only modules of lower layers (lazy imports included).

Each module of muzo_lib is placed in a layer below; a new module must be placed too, so the
map stays the truth about the package.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "muzo_lib"

#: lowest first; a module may import modules of its own layer or lower ones
LAYERS = [
    ["paths", "progress", "timing", "prediction_result", "numpy_frontend", "skops_files", "lazy", "log", "tensorboard_log",
     "model_kinds"],
    ["audio"],
    ["datasets"],
    ["splits", "evaluation", "hierarchy"],
    ["predictor"],
    ["onnx_predictor"],
    ["synth"],
    ["spectrogram"],
    ["cache"],
    ["runs"],
    ["features"],
    ["forest"],
    ["forest_experiments"],
    ["models", "augment", "distributed", "devices"],
    ["checkpoints", "train_state"],
    ["training"],
    ["pretrained"],
    ["prediction", "streaming", "export"],
    ["ensemble"],
    ["course_models"],
    ["transfer_experiments"],
    ["classifiers", "cnn_model_training"],
    ["plots"],
    ["course"],
    ["cli"],
    ["__init__", "__main__"],
]
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _module(path: Path) -> str:
    """``muzo_lib/synth/styles.py`` -> ``synth``: a subpackage is one module here."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            if node.level == 1 and path.parent != PACKAGE:   # inside a subpackage: its own files
                continue
            if node.module:
                names.add(node.module.split(".")[0])
            else:
                names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("muzo_lib."):
            names.add(node.module.split(".")[1])
    return names


def test_every_module_has_a_layer():
    modules = {_module(p) for p in PACKAGE.rglob("*.py")}
    assert not modules - set(LAYER), f"place these modules in LAYERS: {sorted(modules - set(LAYER))}"


def test_imports_flow_one_way():
    upward = []
    for path in PACKAGE.rglob("*.py"):
        me = _module(path)
        for other in _imports(path):
            if other in LAYER and LAYER[other] > LAYER.get(me, -1):
                upward.append(f"{path.relative_to(PACKAGE)} imports {other}")
    assert not upward, "imports against the layering:\n" + "\n".join(sorted(upward))
