"""``python -m costa`` runs the command line."""

from costa.cli import main

main()
