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
import torch
from torch import nn

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
  const visible = () => [...document.querySelectorAll('g.node')].filter(n => n.getBoundingClientRect().width > 0);
  const boxes = () => Object.fromEntries(visible().map(n => { const r = n.getBoundingClientRect();
    return [n.dataset.id, [r.left, r.top, r.right, r.bottom]]; }));
  function overlaps(){  // pairs of visible boxes (a fold's stacked outline included) that share any area
    const b = Object.entries(boxes()), bad = [];
    for(let i = 0; i < b.length; i++) for(let j = i + 1; j < b.length; j++){
      const [p, q] = [b[i][1], b[j][1]];
      if(Math.min(p[2], q[2]) - Math.max(p[0], q[0]) > 0.5 && Math.min(p[3], q[3]) - Math.max(p[1], q[1]) > 0.5)
        bad.push(b[i][0] + ' ' + b[j][0]);
    }
    return bad;
  }
  function covered(){  // visible boxes something else is painted over (checked at their centres on screen)
    return visible().filter(n => { const r = n.getBoundingClientRect(), x = (r.left + r.right) / 2,
      y = (r.top + r.bottom) / 2;
      const clip = n.closest('#view, .archinspect-graph-box').getBoundingClientRect();  // scrolled out: unseen
      if(x < Math.max(0, clip.left) || y < Math.max(0, clip.top) || x >= Math.min(innerWidth, clip.right) ||
         y >= Math.min(innerHeight, clip.bottom)) return false;
      const top = document.elementFromPoint(x, y);
      return !top || top.closest('g.node') !== n; }).map(n => n.dataset.id);
  }
  const drawn = () => Object.fromEntries(visible().map(n => { const r = n.getBBox();  // in the drawing's units
    return [n.dataset.id, [r.x, r.y, r.x + r.width, r.y + r.height]]; }));
  const same = (a, b) => Object.keys(a).length === Object.keys(b).length &&
    Object.keys(a).every(k => b[k] && a[k].every((v, i) => Math.abs(v - b[k][i]) < 0.5));
  const click = el => el.dispatchEvent(new MouseEvent('click', {bubbles: true}));
  const foldBox = id => visible().find(n => n.dataset.id === id);
  const title = id => [...document.querySelectorAll('.fold-title[data-fold="' + id + '"]')]
    .find(t => t.getBoundingClientRect().width > 0);
  window.addEventListener('load', () => {
    out.nodes = visible().length;
    out.folds = [...document.querySelectorAll('g.node.fold')].filter(n => n.getBoundingClientRect().width > 0)
      .map(f => f.dataset.id);
    const start = boxes(), picture = drawn();
    out.overlaps = overlaps(); out.covered = covered();
    const view = document.querySelector('#view');
    if(view){ const v = view.getBoundingClientRect();
      out.fits = Object.values(start).every(r =>
        r[0] >= v.left && r[1] >= v.top && r[2] <= v.right && r[3] <= v.bottom);
      const svg = view.querySelector('svg'), vb = svg.viewBox.baseVal;
      out.scale = svg.getBoundingClientRect().width / vb.width; }
    out.each = {};
    for(const id of out.folds){  // open each fold alone, look, close it again
      click(foldBox(id).querySelector('rect'));
      const seen = {shown: visible().length, overlaps: overlaps(), covered: covered(), framed: !!title(id),
                    fold_gone: !foldBox(id)};
      click(title(id));
      seen.closed = visible().length; seen.restored = same(boxes(), start);  // the same picture, same place
      out.each[id] = seen;
    }
    if(out.folds.length >= 3){
      click(foldBox(out.folds[0]).querySelector('rect'));  // two open at once
      click(foldBox(out.folds[2]).querySelector('rect'));
      out.two = {shown: visible().length, overlaps: overlaps(), covered: covered(),
                 framed: !!title(out.folds[0]) && !!title(out.folds[2])};
      click(title(out.folds[0])); click(title(out.folds[2]));
      out.two.restored = same(drawn(), picture);  // the same picture (the view may have moved with the clicks)
    }
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


class Wide(nn.Module):
    """A block of three parallel convolutions summed: at depth 3 it is drawn three boxes wide."""

    def __init__(self) -> None:
        super().__init__()
        self.left, self.mid, self.right = nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 1), nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.left(x) + self.mid(x) + self.right(x)


class Beside(nn.Module):
    """A run of four wide blocks (a fold) with a convolution and a ReLU beside it, joined by a concatenation."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 1)
        self.blocks = nn.Sequential(*(Wide() for _ in range(4)))
        self.side = nn.Sequential(nn.Conv2d(8, 8, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return torch.cat([self.blocks(x), self.side(x)], 1)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The page ``--output x.html`` writes, and a notebook cell's ``_repr_html_`` in a bare page."""
    loaded = load_model("resnet50")
    view = graph(loaded.model, loaded.inputs(None), model_name="resnet50")
    folder = tmp_path_factory.mktemp("graph")
    (folder / "resnet50.html").write_text(view.html(), encoding="utf-8")
    cell = f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{view._repr_html_()}</body></html>"
    (folder / "cell.html").write_text(cell, encoding="utf-8")
    wide = graph(Beside(), (1, 3, 16, 16), depth=3, model_name="beside")
    (folder / "beside.html").write_text(wide.html(), encoding="utf-8")
    return {"page": folder / "resnet50.html", "notebook": folder / "cell.html", "beside": folder / "beside.html"}


@pytest.fixture
def page(pages: dict[str, Path]) -> Path:
    return pages["page"]


def _probe(pages: dict[str, Path], kind: str, tmp_path: Path, window: str = "1200,900") -> dict:
    """What the harness saw in ``pages[kind]`` opened in a ``window``-sized Chromium."""
    probe = tmp_path / "probe.html"
    text = pages[kind].read_text(encoding="utf-8")
    probe.write_text(text.replace("<head>", "<head>" + HARNESS, 1), encoding="utf-8")
    dom = _chromium(tmp_path, "--virtual-time-budget=5000", f"--window-size={window}", "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="result">(.*?)</pre>', dom)
    assert found, dom[-2000:]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.mark.parametrize("kind", ["page", "notebook"])
def test_runs_offline_shows_the_boxes_and_folds_on_click(pages: dict[str, Path], kind: str, tmp_path: Path) -> None:
    seen = _probe(pages, kind, tmp_path)
    assert seen["errors"] == [] and seen["blocked"] == [] and seen["resources"] == []
    assert seen["nodes"] == 13  # input, conv1, bn1, relu, maxpool, 4 folds, avgpool, view, fc, output
    assert seen["folds"] == ["fold:6", "fold:40", "fold:84", "fold:148"]
    assert seen["overlaps"] == seen["covered"] == []
    for fold, blocks in zip(seen["folds"], (3, 4, 6, 3), strict=True):
        opened = seen["each"][fold]
        assert opened["shown"] == 13 - 1 + blocks  # the fold's box gives way to its blocks
        assert opened["fold_gone"] is True and opened["framed"] is True
        assert opened["overlaps"] == opened["covered"] == [], opened  # laid out again: nothing drawn over
        assert opened["closed"] == 13 and opened["restored"] is True  # folded back: the same picture
    assert seen["two"] == {"shown": 13 - 2 + 3 + 6, "overlaps": [], "covered": [], "framed": True, "restored": True}


def test_a_fold_wider_open_than_closed_pushes_its_neighbour_aside(pages: dict[str, Path], tmp_path: Path) -> None:
    seen = _probe(pages, "beside", tmp_path)
    assert seen["errors"] == [] and seen["folds"] == ["fold:3"]
    assert seen["nodes"] == 7  # input, stem, Wide × 4, side.0, side.1, cat, output
    opened = seen["each"]["fold:3"]
    assert opened["shown"] == 7 - 1 + 4 * 5  # four blocks of three convolutions and two adds
    assert opened["overlaps"] == opened["covered"] == [] and opened["framed"] is True  # the side branch moved aside
    assert opened["closed"] == 7 and opened["restored"] is True


def test_resnet50_folded_fits_a_1920_by_1080_screen_at_full_size(pages: dict[str, Path], tmp_path: Path) -> None:
    seen = _probe(pages, "page", tmp_path, "1920,1080")
    assert seen["fits"] is True  # every box inside the view, no scrolling or panning
    assert seen["scale"] == pytest.approx(1.0)  # drawn 1:1: the 11 px text stays 11 px


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
