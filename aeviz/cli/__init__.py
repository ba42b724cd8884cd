"""The command line, ``python -m aeviz``: one module per group of sub-commands."""
