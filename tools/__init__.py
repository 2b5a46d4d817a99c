"""Developer and demo tooling (not installed with the package)."""
