"""``python -m karloq``: the command line."""

from karloq.cli import main

main()
