"""The graph's HTML page in a real browser: headless Chromium loads it with no network request and no console
error, shows the expected boxes, opens and closes a fold on click, and paints something.

Driven without a browser driver: a copy of the page gets a small script that acts and writes what it saw
into the page; ``chromium --dump-dom`` prints the page after it ran, ``--screenshot`` keeps a PNG.
Skipped, with the reason, where Debian's ``chromium`` is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from archinspect.models.loading import load_model
from archinspect.render.graph import graph

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not installed (apt-get install -y chromium); browser test skipped"
)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]

HARNESS = """<script>
(function(){
  const out = {errors: [], blocked: []};
  window.addEventListener('error', e => out.errors.push(String(e.message)));
  document.addEventListener('securitypolicyviolation', e => out.blocked.push(e.blockedURI));
  const log = console.error;
  console.error = function(){ out.errors.push([...arguments].join(' ')); log.apply(console, arguments); };
  const shown = () => [...document.querySelectorAll('g.node')].filter(n => {
    const frag = n.closest('g.fragment');
    return n.style.display !== 'none' && !(frag && frag.style.display === 'none') &&
           n.getBoundingClientRect().width > 0; }).length;
  const click = el => el.dispatchEvent(new MouseEvent('click', {bubbles: true}));
  window.addEventListener('load', () => {
    out.nodes = shown();
    out.folds = [...document.querySelectorAll('g.node.fold')].map(f => f.dataset.id);
    const fold = document.querySelector('g.node.fold[data-id="' + out.folds[2] + '"]');
    const below = document.querySelector('g.node.output');
    const y0 = below.getBoundingClientRect().top;
    click(fold.querySelector('rect'));
    out.opened = shown();
    out.moved_down = below.getBoundingClientRect().top > y0;
    click(document.querySelector('g.fragment[data-fold="' + fold.dataset.id + '"] rect.fold-title'));
    out.closed = shown();
    out.back = Math.abs(below.getBoundingClientRect().top - y0) < 0.5;
    out.resources = performance.getEntriesByType('resource').map(r => r.name);
    const pre = document.createElement('pre'); pre.id = 'result'; pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  });
})();
</script>"""


def _chromium(tmp_path: Path, *args: str) -> str:
    profile = tmp_path / "profile"
    done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120, check=False)
    return done.stdout


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The page ``--output x.html`` writes, and a notebook cell's ``_repr_html_`` in a bare page."""
    loaded = load_model("resnet50")
    view = graph(loaded.model, loaded.inputs(None), model_name="resnet50")
    folder = tmp_path_factory.mktemp("graph")
    (folder / "resnet50.html").write_text(view.html(), encoding="utf-8")
    cell = f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{view._repr_html_()}</body></html>"
    (folder / "cell.html").write_text(cell, encoding="utf-8")
    return {"page": folder / "resnet50.html", "notebook": folder / "cell.html"}


@pytest.fixture
def page(pages: dict[str, Path]) -> Path:
    return pages["page"]


@pytest.mark.parametrize("kind", ["page", "notebook"])
def test_runs_offline_shows_the_boxes_and_folds_on_click(pages: dict[str, Path], kind: str, tmp_path: Path) -> None:
    probe = tmp_path / "probe.html"
    text = pages[kind].read_text(encoding="utf-8")
    probe.write_text(text.replace("<head>", "<head>" + HARNESS, 1), encoding="utf-8")
    dom = _chromium(tmp_path, "--virtual-time-budget=5000", "--window-size=1200,900", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="result">(.*?)</pre>', dom)
    assert found, dom[-2000:]
    seen = json.loads(found.group(1).replace("&quot;", '"'))
    assert seen["errors"] == [] and seen["blocked"] == [] and seen["resources"] == []
    assert seen["nodes"] == 13  # input, conv1, bn1, relu, maxpool, 4 folds, avgpool, view, fc, output
    assert seen["folds"] == ["fold:6", "fold:40", "fold:84", "fold:148"]
    assert seen["opened"] == 13 - 1 + 6  # Bottleneck × 6 opened into its six blocks
    assert seen["moved_down"] is True
    assert seen["closed"] == 13 and seen["back"] is True


def _png_colours(path: Path) -> set[tuple[int, ...]]:
    """The distinct RGB colours of a PNG (8-bit RGB or RGBA, no interlace), read with zlib alone."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 3
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, _, colour = struct.unpack(">IIBB", body[:10])
            channels = 4 if colour == 6 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(bytes(line))
        prev = line
    return {tuple(row[i:i + 3]) for row in rows[::7] for i in range(0, stride, channels * 7)}


def test_screenshot_is_not_blank(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, "--virtual-time-budget=3000", "--window-size=800,600", f"--screenshot={shot}", page.as_uri())
    assert shot.exists()
    colours = _png_colours(shot)
    assert len(colours) > 20  # boxes coloured by MACs, text, edges: far from one flat colour
    assert any(r > 200 and 100 < g < 180 and b < 120 for r, g, b in colours)  # an orange (costly) box
