"""The command line: ``app.py`` is the Typer app, one module per command (parse, call one library
function, render), ``common.py`` the shared options, error handling and output."""
