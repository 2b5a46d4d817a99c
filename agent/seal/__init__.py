"""Seal on idle: encrypt fresh files in protected folders in place, and undo it on return.

- `format`: the sealed-file format (streamed AES-256-GCM, docs/seal-format.md).
- `keys`: the device key in the OS key store (or a weaker 0600 file) and its escrow.
- `fileops`: the one seam every file-system write goes through (fault injection plugs in here).
- `journal` + `engine`: crash-safe sealing and unsealing of one file, and start-up recovery.
- `pending`: which files wait to be sealed (watchdog observer + start-up scan).
- `service`: when to seal and unseal (idle, lock, sleep, seal now), status and events.

Everything here is OS-free; OS specifics (directory fsync, lock probes, no-replace rename) come
from `agent.platform.files`.
"""
