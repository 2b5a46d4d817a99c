"""Heedful agent: runs in the employee's desktop session; idle, seal, nudges and the uplink."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("heedful")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
