"""The ``toolchain`` command line (typer). One module per command group, thin."""
