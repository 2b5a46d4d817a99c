"""Reproducible performance measurements.

Each benchmark is a module here with a `main(argv: list[str] | None = None) -> None` that
measures the real code and a baseline *in the same run* and prints both with their ratio through
`benchmarks.report`. `make bench` (python -m benchmarks) runs them all; `python -m benchmarks NAME`
runs one.
"""
