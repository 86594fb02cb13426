"""Render: every view of every result — one :class:`~archinspect.render.table.TableData` description per
table, rendered as a rich table, CSV, Markdown or JSON. Reads results; runs nothing."""
