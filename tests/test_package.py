import importlib
import subprocess
import sys

import muzo_lib


def test_every_export_resolves_to_its_module():
    home = {name: module for module, names in muzo_lib._EXPORTS.items() for name in names}
    assert sorted(home) == muzo_lib.__all__
    for name in muzo_lib.__all__:
        value = getattr(muzo_lib, name)
        assert value is getattr(importlib.import_module(f"muzo_lib.{home[name]}"), name), name


def test_unknown_name_is_an_attribute_error():
    try:
        muzo_lib.no_such_thing
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def test_importing_the_package_loads_no_heavy_library():
    code = "import sys, muzo_lib; print(sorted(m for m in ('torch', 'librosa', 'sklearn') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
