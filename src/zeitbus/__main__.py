"""``python -m zeitbus`` runs the CLI."""

from zeitbus.cli import main

main()
