"""The agent's status, one shape whether the agent is running or not.

`live_status(agent)` is what the running agent reports (local API `/v1/status`);
`offline_status(home)` is what `heedful-agent status` shows when no agent is running: the same
keys, built from the state database and a fresh platform probe. `render(status)` is the text
form. Keys are documented in docs/agent.md ("Status fields").
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from agent import __version__ as AGENT_VERSION
from agent import enrolment as enrolment_mod
from agent.outbox import DROPPED_COUNTER
from agent.store import Store


def _enrolment(store: Store) -> dict[str, Any]:
    current = enrolment_mod.load(store)
    if current is None:
        return {"state": "not_enrolled"}
    return {"state": current.status, **current.public_view()}


def _server(store: Store) -> dict[str, Any]:
    last_ok = store.get_state("last_checkin") or {}
    attempt = store.get_state("last_attempt") or {}
    return {"reachable": attempt.get("reachable"), "last_checkin_at": last_ok.get("at"),
            "last_attempt_at": attempt.get("at"), "last_outcome": attempt.get("outcome"),
            "last_error": attempt.get("message") or None,
            "consecutive_failures": attempt.get("consecutive_failures", 0),
            "last_rules_result": last_ok.get("rules")}


def _outbox(store: Store) -> dict[str, Any]:
    depth, oldest = store.query("SELECT COUNT(*), MIN(queued_at) FROM outbox")[0]
    return {"depth": depth, "oldest_queued_at": oldest,
            "dropped_total": int(store.get_state(DROPPED_COUNTER, 0)),
            "rejected_total": int(store.get_state("outbox_rejected_total", 0))}


def _common(store: Store) -> dict[str, Any]:
    unread = store.query("SELECT COUNT(*) FROM notifications WHERE acked_at IS NULL")[0][0]
    return {"enrolment": _enrolment(store), "server": _server(store),
            "outbox": _outbox(store), "location": store.get_state("location"),
            "notifications": {"unread": unread}, "escrow": store.get_state("escrow")}


def _degraded(caps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in caps if not c["available"] or c["degraded"]]


def live_status(agent: Any) -> dict[str, Any]:
    """Status of the running agent (called in the agent process)."""
    caps = [c.as_dict() for c in agent.platform.capabilities()]
    caps += agent.host.live.get("signin_sources") or []
    status = _common(agent.store)
    status.update({
        "agent": {"running": True, "pid": os.getpid(), "version": AGENT_VERSION,
                  "started_at": agent.started_at, "home": str(agent.home),
                  "priority": agent.priority},
        "rules": agent.rulebook.status(),
        "presence": {"idle_seconds": agent.host.live.get("idle_seconds"),
                     "locked": agent.host.live.get("locked")},
        "capabilities": caps, "degraded": _degraded(caps),
        "footprint": agent.footprint.status(), "sensors": agent.host.status(),
        "schedule": agent.checkins.status()})
    return status


def offline_status(home: Path, platform: Any = None) -> dict[str, Any]:
    """Status when no agent process answers: from the state file and a fresh probe."""
    if platform is None:
        from agent import platform
    store = Store(home)
    try:
        status = _common(store)
        rules = store.query("SELECT version, applied_at FROM rules_applied")
        refused = store.get_state("rules_refused")
        footprint = store.get_state("footprint")
    finally:
        store.close()
    caps = [c.as_dict() for c in platform.capabilities()]
    status.update({
        "agent": {"running": False, "version": AGENT_VERSION, "home": str(home)},
        "rules": {"version": rules[0][0] if rules else None,
                  "source": "server" if rules else "built-in",
                  "applied_at": rules[0][1] if rules else None, "refused": refused},
        "presence": {"idle_seconds": platform.idle_seconds(),
                     "locked": platform.session_locked()},
        "capabilities": caps, "degraded": _degraded(caps),
        "footprint": footprint, "sensors": []})
    return status


def _when(epoch: float | None) -> str:
    if not epoch:
        return "never"
    ago = time.time() - float(epoch)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(epoch)))
    return f"{stamp} ({ago:.0f} s ago)"


def render(status: dict[str, Any]) -> str:
    """Readable multi-line status."""
    agent, enrol, server = status["agent"], status["enrolment"], status["server"]
    rules, presence, outbox = status["rules"], status["presence"], status["outbox"]
    running = f"running (pid {agent.get('pid')})" if agent["running"] else "not running"
    employee = (enrol.get("employee") or {}).get("email")
    lines = [f"agent:        {running}, version {agent['version']}",
             f"enrolment:    {enrol['state']}"
             + (f" to {enrol['server_url']} as {employee}" if enrol.get("server_url") else "")]
    if enrol.get("status_reason"):
        lines.append(f"              {enrol['status_reason']}")
    reach = {True: "reachable", False: "unreachable", None: "unknown"}[server["reachable"]]
    lines += [f"server:       {reach}; last check-in {_when(server['last_checkin_at'])}",
              f"rules:        version {rules['version'] or 'built-in defaults'}"]
    if server.get("last_error"):
        lines.insert(-1, f"              last error: {server['last_error']}")
    if rules.get("refused"):
        lines.append(f"              refused v{rules['refused'].get('version')}: "
                     f"{rules['refused'].get('reason')} - {rules['refused'].get('message')}")
    idle = presence["idle_seconds"]
    lines += [f"idle:         {'unknown' if idle is None else f'{idle:.0f} s'}",
              f"locked:       {'unknown' if presence['locked'] is None else presence['locked']}",
              f"outbox:       {outbox['depth']} waiting, {outbox['dropped_total']} dropped"]
    escrow = status.get("escrow") or {}
    if escrow:
        lines.append(f"key escrow:   {escrow.get('status')}"
                     + (f" (key {escrow['key_id']})" if escrow.get("key_id") else ""))
    foot = status.get("footprint") or {}
    if foot.get("rss_bytes"):
        lines.append(f"footprint:    {foot.get('cpu_percent')} % CPU, "
                     f"{foot['rss_bytes'] / 1048576:.1f} MB RSS"
                     + (" (backing off)" if foot.get("backing_off") else ""))
    location = status.get("location") or {}
    if location:
        lines.append(f"location:     {location.get('country_code') or 'unknown'}"
                     f" {location.get('city') or ''} ({location.get('kind')})")
    for cap in status["degraded"]:
        state = "degraded" if cap["available"] else "unavailable"
        lines.append(f"{state}:  {cap['name']}: {cap['reason']}")
    return "\n".join(lines)
