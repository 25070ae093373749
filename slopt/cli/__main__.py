"""``python -m slopt.cli``."""

from slopt.cli import main

main()
