"""``python -m slopt``: the ``slopt`` command."""

from slopt.cli import main

main()
