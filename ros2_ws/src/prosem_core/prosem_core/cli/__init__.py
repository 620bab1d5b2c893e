"""The `prosem` command line. Each subcommand lives in its own `cmd_*.py` module."""
