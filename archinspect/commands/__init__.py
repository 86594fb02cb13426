"""CLI commands: one module per command, each with ``register(app)``; none imports torch at import time."""
