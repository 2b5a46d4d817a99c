"""`python -m server.cli` — the same as `heedful-server`."""

from server.cli import main

main(prog_name="heedful-server")
