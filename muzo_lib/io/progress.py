"""One progress bar for the whole library: a widget in Jupyter, text elsewhere."""
from __future__ import annotations

import importlib.util


def progress_bar(iterable=None, **kwargs):
    """``tqdm`` that draws a widget when ipywidgets is installed (Jupyter) and plain text
    otherwise, instead of tqdm.auto's warning when widgets are missing."""
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm import tqdm
    kwargs.setdefault("mininterval", 0.5)
    return tqdm(iterable, **kwargs)
