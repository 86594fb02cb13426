"""Collect: the one pass. Inputs and devices it runs on, the operator counter and its fast meta answers,
the engine that pushes dummy inputs through a model once, and the :class:`~archinspect.core.report.Report`
it returns. Nothing here knows about commands, tables or the zoo."""
