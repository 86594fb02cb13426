"""Render: every view of every result — one :class:`~archinspect.render.table.TableData` description per
table, rendered as a rich table, CSV, Markdown, JSON or HTML. Reads results; runs nothing.

Importing this package registers how every result type displays itself (``print()``, a notebook's HTML,
``repr``): see :mod:`archinspect.display` and :mod:`archinspect.render.results`."""

from archinspect.display import register_display, register_progress
from archinspect.render.progress import progress_display
from archinspect.render.results import RESULT_TYPES, display_of

for _name in RESULT_TYPES:
    register_display(_name, display_of)
register_progress(progress_display)
