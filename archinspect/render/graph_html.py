"""The graph as one self-contained HTML page: no network, no CDN, nothing but this file.

The page holds the SVG of the folded graph, each fold's members laid out as a hidden fragment, and about
a hundred lines of plain JavaScript: drag to pan, wheel to zoom, hover or click a box for its details,
click a fold (``Bottleneck × 3``) to open it in place (everything below moves down) and its title bar to
close it again.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from archinspect.render.graph_text import CHAR_W, node_details, size
from archinspect.render.layout import Box, layout

GraphView = Any  # archinspect.render.graph.GraphView, which imports this module

TITLE_H = 20.0  # an open fold's title bar


def _fragment(view: GraphView, fold_id: str) -> tuple[str, float]:
    """The SVG of a fold's members (everything inside them, open), placed where the fold node is; and how
    much taller it is than the fold node."""
    g = view.graph
    fold = g.folds[fold_id]
    inside_groups = set(fold.members) & set(g.groups)
    changed = True
    while changed:
        changed = False
        for grp in g.groups.values():
            if grp.parent in inside_groups and grp.id not in inside_groups:
                inside_groups.add(grp.id)
                changed = True
    nodes = [n for n in view._reading_order_of(g.nodes.values())
             if n.ran and (n.id in fold.members or n.group in inside_groups)]
    ids = {n.id for n in nodes}
    edges = [e for e in g.edges if e.src in ids and e.dst in ids]

    def chain(group: str | None) -> tuple[str, ...]:
        out = []
        while group in inside_groups:
            out.append(group)
            group = g.groups[group].parent
        return tuple(reversed(out))

    lay = layout([Box(n.id, *size(n, view.lines(n)), chain(n.group)) for n in nodes], [(e.src, e.dst) for e in edges])
    groups = [grp for grp in g.groups.values() if grp.id in inside_groups]
    placed = view.layout.nodes[fold_id]
    entry = lay.nodes[nodes[0].id]
    dx = placed.x - entry.x
    top = placed.y - placed.height / 2
    dy = top + TITLE_H
    body = "".join(view.draw(nodes, edges, groups, lay))
    height = lay.height + TITLE_H
    text = f"▾ {fold.type}: {fold.name} (click to fold)"
    title = escape(text)
    wide = max(lay.width, len(text) * CHAR_W + 16)
    svg = (
        f'<g class="fragment" data-fold="{fold_id}" data-y="{top:.1f}" style="display:none">'
        f'<rect class="fold-title" data-fold="{fold_id}" x="{dx:.1f}" y="{top:.1f}" '
        f'width="{wide:.1f}" height="{height:.1f}" rx="6" fill="#fff6ee" stroke="#b5541c"/>'
        f'<text class="fold-title" data-fold="{fold_id}" x="{dx + 8:.1f}" y="{top + 14:.1f}" '
        f'fill="#b5541c" font-weight="bold">{title}</text>'
        f'<g transform="translate({dx:.1f},{dy:.1f})">{body}</g></g>'
    )
    return svg, height - placed.height


def _parts(view: GraphView) -> tuple[str, str]:
    svg = view.svg()
    fragments, folds = [], {}
    for fid in view.graph.folds:
        if fid in view.layout.nodes:
            text, delta = _fragment(view, fid)
            fragments.append(text)
            p = view.layout.nodes[fid]
            folds[fid] = {"y": p.y, "delta": delta}
    svg = svg.replace("</svg>", "".join(fragments) + "</svg>")
    details = {n.id: node_details(n) for n in view.graph.nodes.values()}
    details.update({fid: node_details(f) for fid, f in view.graph.folds.items()})
    data = json.dumps({"details": details, "folds": folds}).replace("</", "<\\/")
    return svg, data


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
  const num = (el, k) => parseFloat(el.getAttribute(k));
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
  // ---- folding: open a fold in place, moving everything below it down
  function shift(y, delta){
    svg.querySelectorAll('g.node, text.shape, g.fragment').forEach(el => {
      if(el.closest('g.fragment') && !el.matches('g.fragment')) return;
      const at = num(el, 'data-y');
      if(at > y){
        el.setAttribute('data-y', at + delta);
        if(el.tagName === 'text'){ el.setAttribute('y', num(el, 'y') + delta); }
        else { const dy = (parseFloat(el.dataset.dy || 0)) + delta; el.dataset.dy = dy;
               el.setAttribute('transform', 'translate(0,' + dy + ')'); }
      }
    });
    svg.querySelectorAll('g.group').forEach(el => {
      if(el.closest('g.fragment')) return;
      const y0 = num(el, 'data-y0'), y1 = num(el, 'data-y1'), r = el.querySelector('rect');
      if(y0 > y){ el.setAttribute('data-y0', y0 + delta); el.setAttribute('data-y1', y1 + delta);
        const dy = (parseFloat(el.dataset.dy || 0)) + delta; el.dataset.dy = dy;
        el.setAttribute('transform', 'translate(0,' + dy + ')'); }
      else if(y1 > y){ el.setAttribute('data-y1', y1 + delta); r.setAttribute('height', num(r, 'height') + delta); }
    });
    svg.querySelectorAll('path.edge').forEach(el => {
      if(el.closest('g.fragment')) return;
      const pts = el.dataset.pts.split(';').map(p => p.split(',').map(Number));
      pts.forEach(p => { if(p[1] > y) p[1] += delta; });
      el.dataset.pts = pts.map(p => p.join(',')).join(';');
      let d = 'M' + pts[0].join(',');
      for(let i = 1; i < pts.length; i++){ const my = (pts[i-1][1] + pts[i][1]) / 2;
        d += ' C' + pts[i-1][0] + ',' + my + ' ' + pts[i][0] + ',' + my + ' ' + pts[i].join(','); }
      el.setAttribute('d', d);
    });
    const paper = svg.querySelector('rect.paper');
    if(paper) paper.setAttribute('height', num(paper, 'height') + delta);
    if(svg.hasAttribute('height')){  // inline in a notebook: the picture grows; on the page the view stays
      svg.setAttribute('height', num(svg, 'height') + delta); vb[3] += delta; setVB(); }
  }
  function toggle(id, open){
    const f = data.folds[id]; if(!f) return;
    const node = svg.querySelector('g.node.fold[data-id="' + id + '"]');
    const frag = svg.querySelector('g.fragment[data-fold="' + id + '"]');
    const y = num(node, 'data-y');
    if(open){ shift(y, f.delta); node.style.display = 'none'; frag.style.display = ''; }
    else { frag.style.display = 'none'; node.style.display = ''; shift(y, -f.delta); }
    svg.dispatchEvent(new CustomEvent('aig-fold', {detail: {id: id, open: open}}));
  }
  svg.addEventListener('click', e => {
    const title = e.target.closest('.fold-title');
    if(title){ toggle(title.dataset.fold, false); return; }
    const n = e.target.closest('g.node');
    if(!n) return;
    if(n.classList.contains('fold')) toggle(n.dataset.id, true); else show(n.dataset.id);
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
