"""The course as a book: a static site of a run's executed notebooks, readable offline.

``build_book(run_dir)`` turns ``runs/<name>/notebooks/*.ipynb`` into ``runs/<name>/book/``:
``index.html`` (the run's summary table and the contents, in course order) and one page per
notebook with its code, printed output and figures, linked previous / contents / next.

It uses nbconvert's HTML exporter and its JupyterLab template, the tool that renders
notebooks everywhere Jupyter does, rather than hand-written HTML. A Jupyter Book (Sphinx or
MyST) would add a site generator and its dependencies for nine pages in one fixed order.
nbconvert's page head loads require.js, MathJax and mermaid from a CDN. The course uses no
maths, no diagrams and no widget state, so Muzo's template (``resources/book/``) leaves them
out and a page needs nothing from the network.

Figures become files beside each page (``<notebook>_files/``), so a page stays small. With
``compress=True`` they are re-encoded as 256-colour PNGs, the form of the reference book in
``docs/book/`` (plots have few colours; a colour map's bands are finer than a screen shows).

Each page records the SHA-1 of its notebook's cell sources (``<meta name="muzo-source">``;
papermill's injected parameters left out), so a test can tell a published book whose
notebooks have changed since it was built.
"""
from __future__ import annotations

import hashlib
import html
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

from muzo_lib.io.paths import project_root

TEMPLATES = Path(__file__).resolve().parents[1] / "resources" / "book"
INJECTED = "injected-parameters"


@dataclass(frozen=True)
class BookPage:
    """One notebook's page: its file name, title and source digest."""
    notebook: str
    file: str
    title: str
    source_sha1: str


def source_sha1(notebook: nbformat.NotebookNode) -> str:
    """SHA-1 over a notebook's cell types and sources, without papermill's injected cell
    (an executed notebook and its committed source give the same digest)."""
    digest = hashlib.sha1()
    for cell in notebook.cells:
        if INJECTED in cell.get("metadata", {}).get("tags", []):
            continue
        digest.update(f"{cell.cell_type}\0{cell.source}\0".encode())
    return digest.hexdigest()


def notebook_title(notebook: nbformat.NotebookNode, fallback: str) -> str:
    """The first markdown heading's text (``# 03 · A spectrogram CNN`` -> ``03 · A spectrogram CNN``)."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return fallback


def build_book(run_dir: str | os.PathLike, output: str | os.PathLike | None = None,
               compress: bool = False) -> Path:
    """Write the book of the run in ``run_dir`` to ``output`` (default ``run_dir/book``).

    The book is built in a temporary folder beside ``output`` and then put in its place, so an
    error leaves the previous book whole.

    Returns:
        The book's ``index.html``.

    Raises:
        FileNotFoundError: the run has no executed notebooks (run ``muzo course`` first).
    """
    run_dir = Path(run_dir)
    notebooks = sorted((run_dir / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no executed notebooks in {run_dir / 'notebooks'} (run `muzo course` first)")
    output = Path(output) if output else run_dir / "book"
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".book-", dir=output.parent))
    try:
        read = [nbformat.read(path, as_version=4) for path in notebooks]
        pages = [BookPage(path.name, path.stem + ".html", notebook_title(nb, path.stem), source_sha1(nb))
                 for path, nb in zip(notebooks, read)]
        exporter = _exporter()
        for i, (nb, page) in enumerate(zip(read, pages)):
            _relative_paths(nb, _checkouts(run_dir))
            if compress:
                _compress_audio(nb)
            nav = _navigation(pages, i)
            body, resources = exporter.from_notebook_node(nb, resources={
                "metadata": {"name": page.title}, "muzo_nav": nav, "muzo_source": page.source_sha1,
                "output_files_dir": f"{Path(page.file).stem}_files"})
            for name, data in resources.get("outputs", {}).items():
                target = staging / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(_quantized(data) if compress and name.endswith(".png") else data)
            (staging / page.file).write_text(body, encoding="utf-8")
        (staging / "index.html").write_text(_front_page(run_dir, pages), encoding="utf-8")
        (staging / "book.css").write_text(_notebook_css(exporter), encoding="utf-8")
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output / "index.html"


def book_pages(book: str | os.PathLike) -> dict[str, str]:
    """A built book's pages and the source digest each records: ``{notebook file: sha1}``
    (``""`` for a page without one)."""
    from html.parser import HTMLParser

    class Digest(HTMLParser):
        value = ""

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "meta" and attrs.get("name") == "muzo-source":
                self.value = attrs.get("content") or ""

    found = {}
    for page in sorted(Path(book).glob("[0-9][0-9]_*.html")):
        parser = Digest()
        parser.feed(page.read_text(encoding="utf-8"))
        found[page.stem + ".ipynb"] = parser.value
    return found


def _exporter():
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config()
    config.HTMLExporter.extra_template_basedirs = [str(TEMPLATES.parent)]
    config.HTMLExporter.template_name = TEMPLATES.name
    config.ExtractOutputPreprocessor.enabled = True      # figures as files beside the page
    return HTMLExporter(config=config)


def _notebook_css(exporter) -> str:
    """JupyterLab's page style (240 KB), once for the whole book instead of inside every page."""
    for folder in exporter.template_paths:
        css = Path(folder) / "static" / "index.css"
        if css.is_file():
            return css.read_text(encoding="utf-8") + (css.parent / "theme-light.css").read_text(encoding="utf-8")
    raise FileNotFoundError("nbconvert's lab template has no static/index.css (is nbconvert installed whole?)")


def _compress_audio(notebook: nbformat.NotebookNode) -> None:
    """Re-encode the notebooks' embedded WAV players as MP3 (every browser plays it; ~8x smaller)."""
    import base64
    import re

    import soundfile as sf

    def mp3(match):
        samples, rate = sf.read(io.BytesIO(base64.b64decode(match.group(1))), dtype="float32")
        encoded = io.BytesIO()
        sf.write(encoded, samples, rate, format="MP3", subtype="MPEG_LAYER_III", compression_level=0.5)
        return 'src="data:audio/mpeg;base64,' + base64.b64encode(encoded.getvalue()).decode("ascii")

    wav = re.compile(r'src="data:audio/(?:x-)?wav;base64,([A-Za-z0-9+/=\s]+)')
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if isinstance(data.get("text/html"), str) and "data:audio/" in data["text/html"]:
                data["text/html"] = wav.sub(mp3, data["text/html"]).replace('type="audio/wav"', 'type="audio/mpeg"')


def _checkouts(run_dir: Path) -> list[str]:
    """The folders whose paths a book writes relative: the builder's checkout and the one the run
    was made in (``<checkout>/runs/<name>``), which differ when a run is rebuilt elsewhere."""
    roots = {str(project_root())}
    run_dir = run_dir.resolve()
    if run_dir.parent.name == "runs":
        roots.add(str(run_dir.parent.parent))
    return sorted(roots, key=len, reverse=True)      # the longest first: a checkout inside another


def _relative_paths(notebook: nbformat.NotebookNode, roots: list[str]) -> None:
    """Write paths inside the checkout relative to it, as a reader's own checkout has them
    (papermill injects the absolute run folder; a book should not show the builder's disk)."""
    def relative(text: str) -> str:
        for root in roots:
            text = text.replace(f"{root}{os.sep}", "")
        return text

    for cell in notebook.cells:
        cell.source = relative(cell.source)
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = relative(output["text"])
            data = output.get("data", {})
            for kind in ("text/plain", "text/html"):
                if isinstance(data.get(kind), str):
                    data[kind] = relative(data[kind])


def _navigation(pages: list[BookPage], i: int) -> str:
    """Previous / contents / next links for page ``i``."""
    links = []
    if i > 0:
        links.append(f'<a rel="prev" href="{pages[i - 1].file}">&larr; {html.escape(pages[i - 1].title)}</a>')
    links.append('<a href="index.html">Contents</a>')
    if i + 1 < len(pages):
        links.append(f'<a rel="next" href="{pages[i + 1].file}">{html.escape(pages[i + 1].title)} &rarr;</a>')
    return '<nav class="muzo-nav">' + " · ".join(links) + "</nav>"


def _front_page(run_dir: Path, pages: list[BookPage]) -> str:
    """``index.html``: the contents and the run's summary (its markdown rendered by mistune,
    nbconvert's own markdown renderer)."""
    import mistune

    summary = run_dir / "summary.md"
    render = mistune.create_markdown(hard_wrap=True, plugins=["table"])   # summary.md: one fact per line
    summary_html = render(summary.read_text(encoding="utf-8")) if summary.is_file() else \
        "<p>This run has no summary.md (it did not finish).</p>"
    contents = "\n".join(f'<li><a href="{p.file}">{html.escape(p.title)}</a></li>' for p in pages)
    style = (TEMPLATES / "front.css").read_text(encoding="utf-8")
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>Muzo course: {html.escape(run_dir.name)}</title>
<style>{style}</style>
</head>
<body>
<main>
<h1>Muzo: music genre classification, the course</h1>
<p>The notebooks of the run <code>{html.escape(run_dir.name)}</code>, executed, with their output and
figures. Each page is one notebook, in course order; the code is the notebook's, so every number
on these pages can be reproduced with <code>bash scripts/course.sh</code>.</p>
<h2>Contents</h2>
<ol class="contents" start="0">
{contents}
</ol>
<section class="summary">
{summary_html}
</section>
</main>
</body>
</html>
"""


def _quantized(png: bytes) -> bytes:
    """The figure as a 256-colour PNG (a matplotlib figure is mostly a few flat colours)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    small = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        small, format="PNG", optimize=True)
    return small.getvalue() if small.tell() < len(png) else png
