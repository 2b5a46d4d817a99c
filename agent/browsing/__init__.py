"""Browsing nudges: read browser history safely, classify hosts, nudge, count outcomes.

OS-free; where the profiles live comes from `agent.platform.browser_profile_roots()`.

| module | role |
|---|---|
| `profiles` | every Chromium-family and Firefox profile under the platform's roots |
| `snapshot` | consistent private copy of a live database (+ `-wal`/`-journal`), then deleted |
| `chromium`, `firefox` | each browser's rows -> `RawVisit`s (final / redirect hop / skipped) |
| `visits` | shared rules (retries, settle delay) -> `Visit(visit_id, time UTC, host)` |
| `reader` | per-profile checkpoints: nothing read twice, nothing missed across restarts |
| `watch` | watchdog on profile folders (debounced) + periodic scan, retries with backoff |
| `policy`, `nudger`, `nudge_store` | host -> categories -> `rules.nudge.decide` -> `Nudge` |
| `tzcountry` | the time zone's country, when the server cannot tell where the laptop is |
| `cli` | `heedful-agent history` |

The sensor adapter is `agent.sensors.browsing.BrowsingSensor`.
"""
