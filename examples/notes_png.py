"""Render examples/notes.ipynb as a person sees it: executed in a Jupyter kernel, converted to HTML by
nbconvert (JupyterLab's template) and photographed by headless Chromium (Debian's ``chromium``).

    python examples/notes_png.py docs/notebook.png            # needs the [notebook] extra and chromium
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

HERE = Path(__file__).resolve().parent
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def main(png: str, width: int = 1200, height: int = 2400) -> None:
    nb = nbformat.read(HERE / "notes.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    page, _ = HTMLExporter(template_name="lab").from_notebook_node(nb)
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "notes.html"
        html.write_text(page, encoding="utf-8")
        subprocess.run(
            ["chromium", *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile", f"--window-size={width},{height}",
             f"--screenshot={Path(png).resolve()}", html.as_uri()],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(f"wrote {png}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/notebook.png")
