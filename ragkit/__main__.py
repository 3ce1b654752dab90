"""``python -m ragkit``: the same as the ``ragkit`` console script (handy in a venv whose ``bin`` is
not on the PATH)."""

from ragkit.cli import main

main()
