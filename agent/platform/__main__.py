"""`python -m agent.platform`: print what this machine lets the agent see."""

from __future__ import annotations

import json
import sys
import time

from agent import platform


def probe() -> dict[str, object]:
    """Everything the facade reports, as one JSON-friendly dict."""
    reader = platform.signin_reader()
    batch = reader.read({}, now=time.time(), backfill=86400)
    return {
        "platform": platform.NAME,
        "idle_seconds": platform.idle_seconds(),
        "session_locked": platform.session_locked(),
        "capabilities": [c.as_dict() for c in platform.capabilities()],
        "signin_sources": [c.as_dict() for c in batch.sources],
        "signins_last_24h": [r.event_data() for r in batch.records[-20:]],
        "known_folders": {k: str(v) for k, v in platform.known_folders().items()},
        "browser_profile_roots": [
            {"browser": r.browser, "family": r.family, "packaging": r.packaging,
             "path": str(r.path), "exists": r.path.is_dir()}
            for r in platform.browser_profile_roots()],
    }


def main(argv: list[str] | None = None) -> None:
    """Print the probe as JSON (`--json`) or as readable lines."""
    args = sys.argv[1:] if argv is None else argv
    found = probe()
    if "--json" in args:
        print(json.dumps(found, indent=2))
        return
    print(f"platform: {found['platform']}")
    print(f"idle seconds: {found['idle_seconds']}")
    print(f"session locked: {found['session_locked']}")
    for cap in found["capabilities"] + found["signin_sources"]:
        state = ("degraded" if cap["degraded"] else "ok") if cap["available"] else "UNAVAILABLE"
        print(f"  {cap['name']:<22} {state:<12} {cap['source']:<22} {cap['reason']}")
    print(f"sign-ins in the last 24 h: {len(found['signins_last_24h'])}")
    for name, path in found["known_folders"].items():
        print(f"  {name:<10} {path}")
    for root in found["browser_profile_roots"]:
        if root["exists"]:
            print(f"  browser {root['browser']} ({root['packaging']}): {root['path']}")


if __name__ == "__main__":
    main()
