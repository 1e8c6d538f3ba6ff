"""Author and refresh the course notebooks.

    python tools/nbtool.py py2nb draft.py notebooks/03_x.ipynb   # percent-format script -> notebook
    python tools/nbtool.py nb2py notebooks/03_x.ipynb draft.py   # and back, to edit as text
    python tools/nbtool.py refresh notebooks/03_x.ipynb          # execute; keep checked outputs only
    python tools/nbtool.py adopt runs/course/notebooks/03_x.ipynb notebooks/03_x.ipynb  # same, from a course run

Percent format: cells start with ``# %%`` (code) or ``# %% [markdown]`` (markdown lines
are written as ``# text``); ``# %% tags=["parameters"]`` tags a code cell.

``refresh`` executes the notebook the way nbval does (in its folder, the project's
kernel) and stores outputs only for cells marked ``# NBVAL_CHECK_OUTPUT``: those are the
outputs nbval compares; every other output is left out of git.
"""
from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat

HEADER = re.compile(r"^# %%(?: \[(?P<kind>markdown)\])?(?: tags=(?P<tags>\[.*\]))?\s*$")
CHECK = "# NBVAL_CHECK_OUTPUT"


def py2nb(src: Path, dst: Path) -> None:
    cells, kind, tags, lines = [], None, [], []

    def flush():
        if kind is None:
            return
        text = "\n".join(lines).strip("\n")
        if kind == "markdown":
            text = "\n".join(re.sub(r"^# ?", "", line) for line in text.splitlines())
            cell = nbformat.v4.new_markdown_cell(text)
        else:
            cell = nbformat.v4.new_code_cell(text)
        if tags:
            cell.metadata["tags"] = tags
        cells.append(cell)

    for line in src.read_text().splitlines():
        m = HEADER.match(line)
        if m:
            flush()
            kind = m["kind"] or "code"
            tags = json.loads(m["tags"]) if m["tags"] else []
            lines = []
        else:
            lines.append(line)
    flush()
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, dst)


def nb2py(src: Path, dst: Path) -> None:
    out = []
    for cell in nbformat.read(src, as_version=4).cells:
        tags = cell.metadata.get("tags")
        suffix = f" tags={json.dumps(tags)}" if tags else ""
        if cell.cell_type == "markdown":
            out.append(f"# %% [markdown]{suffix}")
            out += [("# " + line).rstrip() for line in cell.source.splitlines()]
        else:
            out.append(f"# %%{suffix}")
            out += cell.source.splitlines()
        out.append("")
    dst.write_text("\n".join(out))


def refresh(path: Path, timeout: int = 1200) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env_root = os.environ.get("MUZO_ROOT")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("MUZO_ROOT", tmp)
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        finally:
            if env_root is None:
                os.environ.pop("MUZO_ROOT", None)
    _keep_checked_outputs(nb, path)


def adopt(executed: Path, path: Path) -> None:
    """Store the checked outputs of a copy already executed with the same defaults (the
    ``muzo course`` run's ``runs/<name>/notebooks/``) instead of executing the notebook again."""
    done = {cell.get("id"): cell for cell in nbformat.read(executed, as_version=4).cells}
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code" and CHECK in cell.source:
            twin = done.get(cell.get("id"))
            if twin is None or twin.source != cell.source:
                sys.exit(f"{path.name}: checked cell {cell.get('id')} is not the same in {executed}: run it again")
            cell.outputs = twin.outputs
    _keep_checked_outputs(nb, path)


def _keep_checked_outputs(nb, path: Path) -> None:
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)
        if CHECK in cell.source:
            count += 1  # nbval refuses stored outputs of a cell without an execution count
            cell.execution_count = count
            for out in cell.outputs:
                if out.get("output_type") == "execute_result":
                    out["execution_count"] = count
        else:
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, path)


if __name__ == "__main__":
    cmd, *args = sys.argv[1:]
    {"py2nb": lambda a, b: py2nb(Path(a), Path(b)), "nb2py": lambda a, b: nb2py(Path(a), Path(b)),
     "adopt": lambda a, b: adopt(Path(a), Path(b)),
     "refresh": lambda *a: [refresh(Path(p)) for p in a]}[cmd](*args)
