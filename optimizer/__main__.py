"""``python -m optimizer``: the same command line as ``restake``."""

from optimizer.cli import main

main(prog_name="restake")
