"""Seal on idle: encrypt fresh files in protected folders in place, and undo it on return.

- `format` (+ `diagnose`, `errors`): the sealed-file format, streamed AES-256-GCM (STREAM),
  specified in docs/seal-format.md.
- `keys`: the device key in the OS key store (or a weaker 0600 file) and its escrow
  (`rules.escrow` holds the pure wrap/unwrap); `recover`: the offline recovery tool.
- `fileops`: the one seam every file-system write goes through (faults are injected there).
- `db`, `journal`, `engine`, `recovery`: crash-safe sealing and unsealing of one file, and
  start-up recovery; `names`: how sealed and temporary files are named.
- `folders`, `pending`, `watcher`: which files wait to be sealed (watchdog + start-up scan).
- `service` (+ `passes`, `worker`, `reporting`, `status`, `events`, `policy`): when to seal and
  unseal (idle, lock, sleep, seal now), status and events; `setup` assembles it all for one
  state folder; `cli`: the `seal-now`, `unseal-now`, `seal-status` and `recover` commands.
- `crashdriver`: a real sealing process that can be killed at any step (crash tests).

Everything here is OS-free; OS specifics (folder fsync, open/locked-file probes, no-replace
rename, the process lock) come from `agent.platform.files`.
"""
