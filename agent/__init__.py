"""Heedful agent: runs in the employee's desktop session; idle, seal, nudges and the uplink."""
