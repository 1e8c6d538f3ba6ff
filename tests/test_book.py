"""The course book: a run's executed notebooks as static pages (muzo_lib.course.book)."""
from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from browser import artefact_path
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from muzo_lib.course.book import INJECTED, book_pages, build_book, source_sha1
from muzo_lib.io.paths import project_root

REPO = Path(__file__).resolve().parent.parent
PUBLISHED = REPO / "docs" / "book"


def _figure_png() -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3))
    ax.imshow(np.random.default_rng(0).random((64, 64)), cmap="magma")
    out = io.BytesIO()
    fig.savefig(out, format="png")
    plt.close(fig)
    return out.getvalue()


def _audio_html() -> str:
    from IPython.display import Audio

    return Audio(np.sin(np.linspace(0, 2000, 22050)), rate=22050)._repr_html_()


def _executed(title: str, root: Path) -> nbformat.NotebookNode:
    """A notebook as papermill leaves it: parameters, injected parameters, a figure, a player."""
    png = base64.b64encode(_figure_png()).decode()
    figure = new_code_cell("plot()", outputs=[new_output("display_data", data={"image/png": png, "text/plain": "<Figure>"})])
    player = new_code_cell("listen()", outputs=[new_output("display_data", data={"text/html": _audio_html()})])
    printed = new_code_cell("print(run_dir)", outputs=[new_output("stream", name="stdout", text=f"{root}/runs/t-book\n")])
    injected = new_code_cell(f'run_dir = "{root}/runs/t-book"', metadata={"tags": [INJECTED]})
    return new_notebook(cells=[new_markdown_cell(f"# {title}\n\nWhat you will learn."),
                               new_code_cell('run_dir = "runs/course"', metadata={"tags": ["parameters"]}),
                               injected, figure, player, printed])


@pytest.fixture
def run_dir(tmp_path):
    run = tmp_path / "runs" / "t-book"
    (run / "notebooks").mkdir(parents=True)
    for name, title in (("00_first.ipynb", "00 · First"), ("01_second.ipynb", "01 · Second")):
        nbformat.write(_executed(title, project_root()), run / "notebooks" / name)
    (run / "summary.md").write_text("# Muzo course run `t-book`\n\nMachine: a test\n\n| model | accuracy % |\n"
                                    "|---|---|\n| cnn | 97.9 [93.8, 100.0] |\n")
    return run


def test_the_book_has_a_front_page_and_a_linked_page_per_notebook(run_dir):
    index = build_book(run_dir)
    assert index == run_dir / "book" / "index.html"
    front = index.read_text()
    assert front.index('href="00_first.html"') < front.index('href="01_second.html"')     # course order
    assert "<table>" in front and "97.9 [93.8, 100.0]" in front                             # the summary's table
    first, second = (run_dir / "book" / "00_first.html").read_text(), (run_dir / "book" / "01_second.html").read_text()
    assert _links(first, "next") == ["01_second.html"] * 2 and _links(first, "prev") == []
    assert _links(second, "prev") == ["00_first.html"] * 2 and _links(second, "next") == []   # above and below
    assert first.count('href="index.html"') == 2


def _links(page: str, rel: str) -> list[str]:
    """The hrefs of a page's links with this ``rel``, in order."""
    from html.parser import HTMLParser

    found = []

    class Links(HTMLParser):
        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "a" and attrs.get("rel") == rel:
                found.append(attrs["href"])

    Links().feed(page)
    return found


def test_pages_need_nothing_from_the_network_and_their_figures_are_files(run_dir):
    book = build_book(run_dir).parent
    for page in book.glob("*.html"):
        text = page.read_text()
        remote = re.findall(r'(?:src|href)="(https?:[^"]*)"', text)
        assert not remote, (page.name, remote)                                             # no CDN scripts or styles
        for image in re.findall(r'<img[^>]* src="([^"]+)"', text):
            assert (book / image).is_file(), image
    assert (book / "book.css").stat().st_size > 100_000                                    # JupyterLab's style, once
    assert len(re.findall(r"<img", (book / "00_first.html").read_text())) == 1


def test_the_book_shows_no_path_of_the_machine_that_built_it(run_dir):
    book = build_book(run_dir).parent
    text = (book / "00_first.html").read_text()
    assert str(project_root()) not in text and "runs/t-book" in text


def test_a_run_made_in_another_checkout_shows_none_of_its_paths_either(run_dir, tmp_path):
    nbformat.write(_executed("00 · First", tmp_path), run_dir / "notebooks" / "00_first.ipynb")  # made in tmp_path/runs/
    text = (build_book(run_dir).parent / "00_first.html").read_text()
    assert str(tmp_path) not in text and "runs/t-book" in text


def test_compressed_figures_are_palette_pngs_and_audio_is_mp3(run_dir, tmp_path):
    from PIL import Image

    full = build_book(run_dir, tmp_path / "full").parent
    small = build_book(run_dir, tmp_path / "small", compress=True).parent
    image = next(small.glob("00_first_files/*.png"))
    assert Image.open(image).mode == "P"
    assert image.stat().st_size < next(full.glob("00_first_files/*.png")).stat().st_size
    page = (small / "00_first.html").read_text()
    assert "data:audio/mpeg;base64," in page and 'type="audio/mpeg"' in page and "audio/wav" not in page
    assert len(page) < len((full / "00_first.html").read_text()) / 2


def test_each_page_records_the_digest_of_its_notebooks_source(run_dir):
    book = build_book(run_dir).parent
    source = nbformat.read(run_dir / "notebooks" / "00_first.ipynb", as_version=4)
    assert book_pages(book)["00_first.ipynb"] == source_sha1(source)
    source.cells = [c for c in source.cells if INJECTED not in c.metadata.get("tags", [])]
    assert source_sha1(source) == book_pages(book)["00_first.ipynb"]                       # injected cell left out
    source.cells[0].source += " Changed."
    assert source_sha1(source) != book_pages(book)["00_first.ipynb"]


def test_a_failed_build_leaves_the_previous_book_whole(run_dir):
    build_book(run_dir)
    (run_dir / "notebooks" / "01_second.ipynb").write_text("{ not a notebook")
    with pytest.raises(Exception):
        build_book(run_dir)
    assert (run_dir / "book" / "01_second.html").is_file()
    assert not [p for p in run_dir.iterdir() if p.name.startswith(".book-")]               # no staging left behind


def test_muzo_book_one_line_error_without_notebooks(tmp_path):
    done = subprocess.run([sys.executable, "-m", "muzo_lib.cli", "book", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "no executed notebooks" in done.stderr and str(tmp_path) in done.stderr


@pytest.mark.slow
def test_every_page_opens_in_chromium_with_its_images(run_dir, browser):
    """The built book in headless Chromium: each page loads, every image decodes, a screenshot is kept."""
    book = build_book(run_dir, compress=True).parent
    for page in ["index.html", *sorted(p.name for p in book.glob("[0-9][0-9]_*.html"))]:
        browser.get((book / page).as_uri())
        state = browser.execute_script(
            "return {title: document.title, images: Array.from(document.images).map(i => i.complete && i.naturalWidth),"
            " nav: document.querySelectorAll('nav.muzo-nav').length}")
        assert state["title"], page
        assert all(state["images"]), (page, state["images"])                # every figure decoded
        assert page == "index.html" or (state["nav"] == 2 and len(state["images"]) == 1), (page, state)
    browser.get((book / "00_first.html").as_uri())
    shot = artefact_path("book_page.png")
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
def test_the_published_book_is_built_from_todays_notebooks():
    """docs/book/ is the reference run's book; a notebook edited since then must be republished
    (`bash scripts/course.sh && .venv/bin/muzo book runs/course --output docs/book --compress`)."""
    published = book_pages(PUBLISHED)
    sources = {p.name: source_sha1(nbformat.read(p, as_version=4)) for p in sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))}
    stale = sorted(name for name in sources if published.get(name) != sources[name])
    assert not stale, f"docs/book is older than these notebooks: {', '.join(stale)}; republish it (see this test's doc)"
    assert set(published) == set(sources)


@pytest.mark.slow
def test_the_published_book_opens_in_chromium_with_every_figure(browser):
    pages = ["index.html", *sorted(p.name for p in PUBLISHED.glob("[0-9][0-9]_*.html"))]
    assert len(pages) == 10
    for page in pages:
        browser.get((PUBLISHED / page).as_uri())
        images = _decoded_images(browser, expect_some=page != "index.html")
        assert all(images), (page, images)
        assert page == "index.html" or images, page                       # every notebook page has figures
    browser.get((PUBLISHED / "03_spectrogram_cnn.html").as_uri())
    browser.save_screenshot(str(artefact_path("published_book_03.png")))


def _decoded_images(browser, expect_some: bool, seconds: float = 20.0) -> list:
    """Each ``<img>``'s decoded width (0 or false: not decoded), once the page has loaded. On a
    loaded 2-core machine the suite once read a notebook page's image list before the page was
    parsed (an empty list), so this waits, boundedly, for a complete document (and, where
    figures are expected, for at least one image) before reading it."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        state, images = browser.execute_script(
            "return [document.readyState, Array.from(document.images).map(i => i.complete && i.naturalWidth)]")
        settled = state == "complete" and (images or not expect_some) and all(images)
        if settled or time.monotonic() > deadline:
            return images
        time.sleep(0.2)
