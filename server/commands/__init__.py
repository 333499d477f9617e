"""One module per `augur` command group; `server/cli.py` registers them.

Keep imports of heavy libraries inside the command functions so that `augur --help` and
`augur serve` start fast.
"""
