"""``python -m worker.cli``: the ``adreview`` command."""

from worker.cli import main

main()
