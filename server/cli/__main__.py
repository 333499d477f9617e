"""`python -m augur.server.cli` is the `augur` command."""

from augur.server.cli.main import run

run()
