"""Linux: idle time, lock state and folders, from the desktop session as it is.

Idle, in order of preference: GNOME Mutter's IdleMonitor (works on Wayland and X11),
the X11 XScreenSaver extension (libXss), systemd-logind's IdleHint/IdleSinceHint (coarse: the
desktop only sets it after its own idle timeout). Lock: logind's LockedHint, then GNOME's
ScreenSaver interface. D-Bus is reached through `gdbus`/`busctl` subprocesses behind one seam
(`runner`), libXss through the `x11.XScreenSaver` object; tests inject both. Before sleep:
a logind delay inhibitor on the bus at `sleep_bus` (agent/platform/sleep_linux.py).

A mechanism that failed is not retried for `retry_after` seconds, so a headless machine does
not spawn tools on every poll.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from agent.platform.base import (
    BrowserRoot,
    Capability,
    PlatformBase,
    Runner,
    first_line,
    run_command,
)
from agent.platform.x11 import XScreenSaver

MUTTER = ["gdbus", "call", "--session", "--dest", "org.gnome.Mutter.IdleMonitor",
          "--object-path", "/org/gnome/Mutter/IdleMonitor/Core",
          "--method", "org.gnome.Mutter.IdleMonitor.GetIdletime"]
GNOME_SCREENSAVER = ["gdbus", "call", "--session", "--dest", "org.gnome.ScreenSaver",
                     "--object-path", "/org/gnome/ScreenSaver",
                     "--method", "org.gnome.ScreenSaver.GetActive"]
LOGIND_SESSION = "/org/freedesktop/login1/session/auto"
MUTTER_REPLY = re.compile(r"\(uint64 (\d+),\)")


def busctl_properties(path: str, *names: str) -> list[str]:
    """argv reading logind session properties as JSON, one line per property."""
    return ["busctl", "--system", "--json=short", "get-property", "org.freedesktop.login1",
            path, "org.freedesktop.login1.Session", *names]


class LinuxPlatform(PlatformBase):
    """The Linux implementation behind the facade; every OS call goes through `runner`/`xss`."""

    def __init__(self, *, runner: Runner = run_command, xss: object | None = None,
                 env: Mapping[str, str] = os.environ, home: Path | None = None,
                 clock: Callable[[], float] = time.time, retry_after: float = 300.0,
                 sleep_bus: str = "SYSTEM") -> None:
        self.runner, self.env, self.clock, self.sleep_bus = runner, env, clock, sleep_bus
        self.xss = xss if xss is not None else XScreenSaver(env.get("DISPLAY", ""))
        self.home = home or Path.home()
        self.retry_after = retry_after
        self._failed_until: dict[str, float] = {}
        self._caps: dict[str, Capability] = {}
        self._reasons: dict[str, str] = {}

    # -- the seam ---------------------------------------------------------------------------
    def _run(self, key: str, argv: list[str]) -> str | None:
        """Run a tool unless it failed recently; None (with the reason recorded) on failure."""
        if self._failed_until.get(key, 0) > self.clock():
            return None
        try:
            result = self.runner(argv)
        except (FileNotFoundError, PermissionError) as exc:
            return self._fail(key, f"{argv[0]} is not available ({exc.__class__.__name__})")
        if result.returncode != 0:
            why = first_line(result.stderr) or f"exit status {result.returncode}"
            return self._fail(key, f"{argv[0]}: {why}")
        self._failed_until.pop(key, None)
        return result.stdout.decode("utf-8", "replace")

    def _fail(self, key: str, reason: str) -> None:
        """Remember why `key` failed and skip it for `retry_after` seconds."""
        self._failed_until[key] = self.clock() + self.retry_after
        self._reasons[key] = reason
        return None

    # -- idle -------------------------------------------------------------------------------
    def _logind(self, *names: str) -> dict[str, object] | None:
        out = self._run("logind", busctl_properties(LOGIND_SESSION, *names))
        if out is None:
            return None
        values = [json.loads(line)["data"] for line in out.splitlines() if line.strip()]
        return dict(zip(names, values, strict=False))

    def idle_seconds(self) -> float | None:
        """Seconds since the last input, or None when no mechanism can tell."""
        out = self._run("mutter", MUTTER)
        match = MUTTER_REPLY.search(out or "")
        if match:
            return self._found("idle", "gnome-mutter", int(match[1]) / 1000)
        ms = self.xss.idle_ms()
        if ms is not None:
            return self._found("idle", "x11-xscreensaver", ms / 1000)
        self._reasons["xss"] = getattr(self.xss, "reason", "") or "XScreenSaver failed"
        hints = self._logind("IdleHint", "IdleSinceHint")
        if hints is not None:
            since = int(hints.get("IdleSinceHint") or 0) / 1_000_000
            idle = max(0.0, self.clock() - since) if hints.get("IdleHint") else 0.0
            return self._found("idle", "logind-idlehint", idle, degraded=True,
                               reason="coarse: logind only reports idle after the "
                                      "desktop's own idle timeout")
        self._missing("idle", "mutter", "xss", "logind")
        return None

    # -- lock -------------------------------------------------------------------------------
    def session_locked(self) -> bool | None:
        """True/False when the session's lock state is known, None when it is not."""
        hints = self._logind("LockedHint")
        if hints is not None and "LockedHint" in hints:
            return self._found("lock", "logind-lockedhint", bool(hints["LockedHint"]))
        out = self._run("gnome-screensaver", GNOME_SCREENSAVER)
        if out is not None and out.strip() in ("(true,)", "(false,)"):
            return self._found("lock", "gnome-screensaver", out.strip() == "(true,)")
        self._missing("lock", "logind", "gnome-screensaver")
        return None

    # -- before sleep -------------------------------------------------------------------------
    def _sleep_watch(self):
        from agent.platform.sleep_linux import LogindSleepWatch

        return LogindSleepWatch(bus=self.sleep_bus)

    # -- capability bookkeeping -------------------------------------------------------------
    def _found(self, name: str, source: str, value, *, degraded: bool = False,
               reason: str = ""):
        self._caps[name] = Capability(name, True, source, degraded, reason)
        return value

    def _missing(self, name: str, *keys: str) -> None:
        why = "; ".join(f"{k}: {self._reasons.get(k, 'failed')}" for k in keys)
        self._caps[name] = Capability(name, False, "", False, why)

    # -- folders ----------------------------------------------------------------------------
    def browser_profile_roots(self) -> list[BrowserRoot]:
        """Where Chromium-family browsers and Firefox keep profiles (native, snap, flatpak)."""
        h, cfg = self.home, Path(self.env.get("XDG_CONFIG_HOME") or self.home / ".config")
        roots = [BrowserRoot("chrome", "chromium", cfg / "google-chrome"),
                 BrowserRoot("chromium", "chromium", cfg / "chromium"),
                 BrowserRoot("edge", "chromium", cfg / "microsoft-edge"),
                 BrowserRoot("brave", "chromium", cfg / "BraveSoftware" / "Brave-Browser"),
                 BrowserRoot("vivaldi", "chromium", cfg / "vivaldi"),
                 BrowserRoot("firefox", "firefox", h / ".mozilla" / "firefox"),
                 # Firefox 147+ puts new profiles under XDG_CONFIG_HOME (seen with ESR 153)
                 BrowserRoot("firefox", "firefox", cfg / "mozilla" / "firefox"),
                 BrowserRoot("chromium", "chromium", h / "snap/chromium/common/chromium", "snap"),
                 BrowserRoot("firefox", "firefox", h / "snap/firefox/common/.mozilla/firefox",
                             "snap")]
        flatpaks = [("chrome", "chromium", "com.google.Chrome/config/google-chrome"),
                    ("chromium", "chromium", "org.chromium.Chromium/config/chromium"),
                    ("brave", "chromium",
                     "com.brave.Browser/config/BraveSoftware/Brave-Browser"),
                    ("edge", "chromium", "com.microsoft.Edge/config/microsoft-edge"),
                    ("vivaldi", "chromium", "com.vivaldi.Vivaldi/config/vivaldi"),
                    ("firefox", "firefox", "org.mozilla.firefox/.mozilla/firefox"),
                    ("firefox", "firefox", "org.mozilla.firefox/config/mozilla/firefox")]
        roots += [BrowserRoot(b, f, h / ".var/app" / p, "flatpak") for b, f, p in flatpaks]
        return roots

    def known_folders(self) -> dict[str, Path]:
        """Documents, Downloads and Desktop from XDG user-dirs, else the usual names."""
        cfg = Path(self.env.get("XDG_CONFIG_HOME") or self.home / ".config")
        try:
            text = (cfg / "user-dirs.dirs").read_text(encoding="utf-8")
        except OSError:
            text = ""
        return parse_user_dirs(text, self.home)


def parse_user_dirs(text: str, home: Path) -> dict[str, Path]:
    """Parse `~/.config/user-dirs.dirs` (XDG_DOCUMENTS_DIR="$HOME/Docs" lines)."""
    wanted = {"DOCUMENTS": "Documents", "DOWNLOAD": "Downloads", "DESKTOP": "Desktop"}
    found = {name: home / name for name in wanted.values()}
    for line in text.splitlines():
        match = re.match(r'\s*XDG_(\w+)_DIR\s*=\s*"(.*)"\s*$', line)
        if match and match[1] in wanted:
            value = match[2].replace("$HOME", str(home))
            found[wanted[match[1]]] = Path(value) if value.startswith("/") else home / value
    return found


if __name__ == "__main__":  # probe this module alone: python -m agent.platform.linux
    _probe = LinuxPlatform()
    print(f"idle seconds: {_probe.idle_seconds()}, locked: {_probe.session_locked()}")
    for _cap in _probe.capabilities():
        print(f"  {_cap.name}: available={_cap.available} source={_cap.source} {_cap.reason}")
