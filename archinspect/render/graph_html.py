"""The graph as one self-contained HTML page: no network, no CDN, nothing but this file.

Opening a fold lays the graph out again, so that the open blocks take the room they need and push their
neighbours aside instead of drawing over them. The layout is Python's, so the page carries the states a
click can reach, each laid out in advance: the folded picture, each of its folds opened alone, and then
combinations of two, three, ... open folds while they stay within :data:`STATE_NODES` boxes in all. A click
on a fold (``Bottleneck × 3``) shows the state with that fold open, a click on an open fold's title
(``▾ Bottleneck × 3``) the state with it closed; the view moves so that what was clicked stays under the
pointer. A combination left out (past the budget) opens the fold alone instead. Besides: drag to pan,
wheel to zoom, hover or click a box for its details; about a hundred lines of plain JavaScript.
"""

from __future__ import annotations

import dataclasses
import json
from html import escape
from typing import Any

from archinspect.render.graph_text import node_details

GraphView = Any  # archinspect.render.graph.GraphView, which imports this module

STATE_NODES = 1000  # boxes over all the states laid out in advance, past the folded picture and single folds
MAX_STATES = 64


def _toggles(view: GraphView) -> list[str]:
    """The folds a click can open (a fold box drawn) or close (an open fold's frame drawn)."""
    return [n.id for n in view.nodes if n.kind == "fold"] + list(dict.fromkeys(view.frames.values()))


def states(view: GraphView) -> dict[frozenset[str], GraphView]:
    """The drawn state of every set of open folds a page carries, ``view``'s own first: breadth first over
    single clicks; every single click from ``view`` always, further ones within :data:`STATE_NODES` boxes."""
    cls = type(view)
    base = frozenset(view.graph.expanded)
    out = {base: view}
    queue, spent = [(base, 0)], 0
    while queue:
        state, clicks = queue.pop(0)
        for fid in _toggles(out[state]):
            nxt = state ^ {fid}
            if nxt in out or (clicks and (spent > STATE_NODES or len(out) >= MAX_STATES)):
                continue
            out[nxt] = cls(dataclasses.replace(view.graph, expanded=set(nxt)), view.metric, top=view.top)
            spent += len(out[nxt].nodes)
            queue.append((nxt, clicks + 1))
    return out


def _anchor(view: GraphView, fid: str) -> list[float] | None:
    """Where fold ``fid`` is drawn in ``view``: its box's centre, or its open frame's title."""
    lay = view.layout
    if fid in lay.nodes:
        return [lay.nodes[fid].x, lay.nodes[fid].y]
    if f"open:{fid}" in lay.groups:
        x, y, w, _ = lay.groups[f"open:{fid}"]
        return [x + min(w / 2, 80.0), y + 8]
    return None


def _moves(drawn: dict[frozenset[str], GraphView]) -> dict[int, dict[str, int]]:
    """For each state and each fold a click there toggles, the state to show: that fold toggled, or where
    that combination was not laid out, the laid-out state nearest to it with the fold as the click wants."""
    keys = list(drawn)
    out: dict[int, dict[str, int]] = {}
    for i, state in enumerate(keys):
        for fid in _toggles(drawn[state]):
            want = state ^ {fid}
            fits = [k for k in keys if (fid in k) == (fid in want)]
            if fits:
                best = min(fits, key=lambda k: (len(k ^ want), keys.index(k)))
                out.setdefault(i, {})[fid] = keys.index(best)
        out.setdefault(i, {})
    return out


def _parts(view: GraphView) -> tuple[str, str]:
    drawn = states(view)
    body = view.svg_start(*view.size)
    sizes, anchors = [], []
    for i, v in enumerate(drawn.values()):
        w, h = v.size
        sizes.append([round(w), round(h)])
        anchors.append({fid: _anchor(v, fid) for fid in view.graph.folds if _anchor(v, fid) is not None})
        hidden = "" if i == 0 else ' style="display:none"'
        body.append(f'<g class="state" data-state="{i}"{hidden}><rect class="paper" width="{w:.0f}" '
                    f'height="{h:.0f}" fill="#ffffff"/>')
        body += v.draw()
        body.append("</g>")
    body.append("</svg>")
    details = {n.id: node_details(n) for n in view.graph.nodes.values()}
    details.update({fid: node_details(f) for fid, f in view.graph.folds.items()})
    data = {"details": details, "sizes": sizes, "anchors": anchors, "moves": _moves(drawn)}
    return "\n".join(body), json.dumps(data).replace("</", "<\\/")


def page(view: GraphView) -> str:
    """The whole page."""
    svg, data = _parts(view)
    g = view.graph
    title = f"{g.model} — archinspect graph, depth {g.depth}"
    summary = (f"{len(view.nodes)} nodes · {len(view.edges)} edges · {len(g.folds)} folds · "
               f"colour: {view.metric} · drag to pan, wheel to zoom, click a fold to open it")
    return _PAGE.format(title=escape(title), summary=escape(summary), svg=svg, data=data, css=_CSS, js=_JS)


def inline(view: GraphView) -> str:
    """For a notebook cell: the same SVG and script in a scrolling block (never clipped)."""
    svg, data = _parts(view)
    return (f'<div class="archinspect-graph-box" style="max-height:80vh;overflow:auto;border:1px solid #ddd">'
            f'<style>{_CSS}</style><div class="aig-details"></div>{svg}'
            f'<script type="application/json" class="aig-data">{data}</script><script>{_JS}</script></div>')


_CSS = """
body{margin:0;font-family:DejaVu Sans,Arial,sans-serif;background:#fafafa}
header{padding:6px 12px;background:#24313f;color:#fff;font-size:13px}
header small{color:#b8c4d0;margin-left:12px}
#view{position:absolute;top:34px;left:0;right:0;bottom:0;overflow:hidden;cursor:grab}
#view svg{width:100%;height:100%}
.aig-details{position:fixed;right:10px;top:44px;min-width:220px;max-width:360px;background:#fff;
 border:1px solid #bbb;border-radius:6px;padding:8px;font-size:12px;box-shadow:0 2px 8px #0002;display:none;z-index:5}
.aig-details table{border-collapse:collapse}.aig-details td{padding:1px 6px;vertical-align:top}
.aig-details td:first-child{color:#666}
g.node{cursor:pointer}g.node:hover rect{stroke-width:2.2}
g.fold rect{cursor:pointer}.fold-title{cursor:pointer}
"""

_JS = r"""
(function(){
  const scripts = document.querySelectorAll('script.aig-data');
  const dataEl = scripts[scripts.length - 1];
  const root = dataEl.parentElement;
  const svg = root.querySelector('svg.archinspect-graph');
  const panel = root.querySelector('.aig-details');
  const data = JSON.parse(dataEl.textContent);
  let vb = svg.getAttribute('viewBox').split(' ').map(Number);
  const setVB = () => svg.setAttribute('viewBox', vb.join(' '));
  // ---- details on hover and click
  function show(id){
    const d = data.details[id]; if(!d || !panel) return;
    panel.innerHTML = '<table>' + Object.entries(d).map(([k, v]) =>
      '<tr><td>' + k + '</td><td>' + String(v).replace(/</g, '&lt;') + '</td></tr>').join('') + '</table>';
    panel.style.display = 'block';
  }
  svg.addEventListener('mouseover', e => { const n = e.target.closest('g.node'); if(n) show(n.dataset.id); });
  // ---- folding: show the state laid out with the fold open (or closed), keeping the clicked fold in place
  let current = 0;
  const state = i => svg.querySelector('g.state[data-state="' + i + '"]');
  const inPage = !!svg.closest('#view');
  function toggle(id){
    const next = (data.moves[current] || {})[id];
    if(next === undefined) return;
    const from = data.anchors[current][id], to = data.anchors[next][id];
    state(current).style.display = 'none'; state(next).style.display = '';
    const size = data.sizes[next];
    if(inPage){ if(from && to){ vb[0] += to[0] - from[0]; vb[1] += to[1] - from[1]; setVB(); } }
    else { svg.setAttribute('width', size[0]); svg.setAttribute('height', size[1]);
           vb = [0, 0, size[0], size[1]]; setVB(); }
    const open = !!state(next).querySelector('g.frame[data-fold="' + id + '"]');
    current = next;
    svg.dispatchEvent(new CustomEvent('aig-fold', {detail: {id: id, open: open, state: next}}));
  }
  svg.addEventListener('click', e => {
    const title = e.target.closest('.fold-title');
    if(title){ toggle(title.dataset.fold); return; }
    const n = e.target.closest('g.node');
    if(!n) return;
    if(n.classList.contains('fold')) toggle(n.dataset.id); else show(n.dataset.id);
  });
  svg.aigToggle = toggle;
  // ---- pan and zoom (the page only; in a notebook the block scrolls)
  const view = svg.closest('#view'); if(!view) return;
  let drag = null;
  view.addEventListener('mousedown', e => {
    drag = [e.clientX, e.clientY, vb[0], vb[1]]; view.style.cursor = 'grabbing'; });
  window.addEventListener('mouseup', () => { drag = null; view.style.cursor = 'grab'; });
  window.addEventListener('mousemove', e => { if(!drag) return;
    const s = vb[2] / view.clientWidth;
    vb[0] = drag[2] - (e.clientX - drag[0]) * s; vb[1] = drag[3] - (e.clientY - drag[1]) * s; setVB(); });
  view.addEventListener('wheel', e => { e.preventDefault();
    const k = e.deltaY > 0 ? 1.15 : 1 / 1.15, r = view.getBoundingClientRect();
    const fx = (e.clientX - r.left) / r.width, fy = (e.clientY - r.top) / r.height;
    const w = vb[2] * k, h = vb[3] * k; vb = [vb[0] + (vb[2] - w) * fx, vb[1] + (vb[3] - h) * fy, w, h]; setVB();
  }, {passive: false});
  svg.removeAttribute('width'); svg.removeAttribute('height');
  // start at 1:1, top first; a graph up to 1.6 screens tall is shown whole
  const ratio = view.clientHeight / Math.max(1, view.clientWidth);
  const scale = vb[3] <= 1.6 * view.clientHeight ? Math.max(1, vb[3] / view.clientHeight) : 1;
  const wide = Math.max(vb[2], view.clientWidth * scale);
  vb = [vb[0] - (wide - vb[2]) / 2, 0, wide, wide * ratio]; setVB();
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<style>{css}</style></head>
<body><header>{title}<small>{summary}</small></header>
<div id="view"><div class="aig-details"></div>{svg}
<script type="application/json" class="aig-data">{data}</script>
<script>{js}</script></div>
</body></html>
"""
