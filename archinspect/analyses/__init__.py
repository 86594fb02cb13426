"""Account: each analysis runs the core pass and arranges what it recorded — shapes (``inspect``),
FLOPs, fit and the input-size solver, the other tools' figures, the zoo summary. Returns typed results;
prints nothing."""
