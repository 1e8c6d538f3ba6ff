"""Lazy public names for a package (PEP 562): a name's module is imported on first use, so
``import muzo_lib`` (or ``muzo_lib.models.pretrained``) costs nothing until a name is asked for."""
from __future__ import annotations

import importlib


def lazy_exports(package: str, exports: dict[str, list[str]], namespace: dict):
    """``(__all__, __getattr__, __dir__)`` for ``package`` whose public names live in its
    modules as ``exports`` says (``{module: [names]}``); ``namespace`` is the package's
    ``globals()``, where a loaded name is kept so the next lookup is a plain attribute."""
    home = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str):
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{home[name]}", package), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(home))

    return sorted(home), __getattr__, __dir__
