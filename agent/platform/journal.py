"""Parser for systemd journal export lines (`journalctl -o json`): sign-ins and failures.

Recognised messages (real wording from OpenSSH, Linux-PAM's pam_unix and unix_chkpwd):

- sshd / sshd-session: `Accepted password for alice from 1.2.3.4 port 22 ssh2`
  -> login, success; `Failed password for [invalid user] alice from 1.2.3.4 port 22 ssh2`
  -> login, failure.
- any PAM service run as root (gdm-password, login, lightdm, sddm):
  `pam_unix(SVC:auth): authentication failure; ... euid=0 ... user=alice` -> login, failure
  (failed_unlock for screen lockers); `pam_unix(SVC:session): session opened for user
  alice(uid=1000) by ...` -> login, success.
- unix_chkpwd (the helper screen lockers running as the user call):
  `password check failed for user (alice)` -> failed_unlock, failure.

sshd's own PAM lines are skipped (its Accepted/Failed lines already count them), and pam_unix
failures of non-root programs are skipped because unix_chkpwd logs the same attempt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from agent.platform.signins import LaptopSignin, from_epoch

IDENTIFIERS = ("sshd", "sshd-session", "login", "unix_chkpwd", "gdm-password]",
               "gdm-autologin]", "gdm-fingerprint]", "lightdm", "sddm-helper",
               "xscreensaver", "i3lock", "swaylock", "kscreenlocker_greet",
               "cinnamon-screensaver", "mate-screensaver", "xfce4-screensaver")
SCREEN_LOCKERS = {"xscreensaver", "i3lock", "swaylock", "kde", "kscreensaver",
                  "kscreenlocker", "cinnamon-screensaver", "mate-screensaver",
                  "xfce4-screensaver", "light-locker", "gnome-screensaver", "xsecurelock"}
NOT_SIGNINS = {"sshd", "su", "su-l", "sudo", "sudo-i", "cron", "systemd-user", "polkit-1",
               "runuser", "runuser-l", "gdm-launch-environment"}

SSH_OK = re.compile(r"^Accepted (?P<how>\S+) for (?P<user>\S+) from (?P<ip>\S+) port \d+")
SSH_FAIL = re.compile(
    r"^Failed (?P<how>\S+) for (?:invalid user )?(?P<user>\S+) from (?P<ip>\S+) port \d+")
PAM_FAIL = re.compile(r"pam_unix\((?P<svc>[^:]+):auth\): authentication failure;"
                      r"(?P<rest>.*)$")
PAM_OPEN = re.compile(r"pam_unix\((?P<svc>[^:]+):session\): session opened for user "
                      r"(?P<user>[^\s(]+)")
CHKPWD_FAIL = re.compile(r"password check failed for user \((?P<user>[^)]*)\)")
FIELD = re.compile(r"(\w+)=(\S*)")


@dataclass
class JournalBatch:
    """What one read produced: records, and the cursor to continue after."""

    signins: list[LaptopSignin] = field(default_factory=list)
    cursor: str | None = None
    lines: int = 0


def classify(program: str, message: str, epoch: float) -> LaptopSignin | None:
    """Turn one log message into a record, or None if it is not a sign-in attempt."""
    program = program.rstrip("]")
    when = from_epoch(epoch)
    if program.startswith("sshd"):
        return _ssh(message, when)
    if program == "unix_chkpwd":
        match = CHKPWD_FAIL.search(message)
        if match and match["user"]:
            return LaptopSignin(match["user"], when, "failure", "failed_unlock", "journal",
                                f"wrong password for {match['user']} at the screen lock",
                                method="unix_chkpwd")
        return None
    return _pam(message, when)


def _ssh(message: str, when) -> LaptopSignin | None:
    ok = SSH_OK.match(message)
    if ok:
        return LaptopSignin(ok["user"], when, "success", "login", "journal",
                            f"{ok['user']} signed in over SSH ({ok['how']}) from {ok['ip']}",
                            remote_address=ok["ip"], method="sshd")
    fail = SSH_FAIL.match(message)
    if fail:
        return LaptopSignin(fail["user"], when, "failure", "login", "journal",
                            f"failed SSH sign-in ({fail['how']}) for {fail['user']} "
                            f"from {fail['ip']}", remote_address=fail["ip"], method="sshd")
    return None


def _pam(message: str, when) -> LaptopSignin | None:
    opened = PAM_OPEN.search(message)
    if opened and opened["svc"] not in NOT_SIGNINS:
        svc = opened["svc"]
        return LaptopSignin(opened["user"], when, "success", "login", "journal",
                            f"{opened['user']} signed in through {svc}", method=svc)
    failed = PAM_FAIL.search(message)
    if not failed or failed["svc"] in NOT_SIGNINS:
        return None
    fields = dict(FIELD.findall(failed["rest"]))
    user = fields.get("user", "")
    if not user or fields.get("euid", "0") != "0":
        return None  # unknown account, or a non-root locker whose unix_chkpwd line counts
    svc = failed["svc"]
    kind = "failed_unlock" if svc in SCREEN_LOCKERS else "login"
    where = "the screen lock" if kind == "failed_unlock" else "the sign-in or lock screen"
    return LaptopSignin(user, when, "failure", kind, "journal",
                        f"wrong password for {user} at {where} ({svc})", method=svc)


def _message(entry: dict) -> str:
    raw = entry.get("MESSAGE", "")
    if isinstance(raw, list):  # journald exports non-UTF-8 messages as byte arrays
        return bytes(raw).decode("utf-8", "replace")
    return str(raw)


def parse_lines(lines: Iterable[bytes | str]) -> JournalBatch:
    """Parse `journalctl -o json` output, one JSON object per line; bad lines are skipped."""
    batch = JournalBatch()
    for line in lines:
        batch.lines += 1
        try:
            entry = json.loads(line)
            epoch = int(entry["__REALTIME_TIMESTAMP"]) / 1_000_000
        except (ValueError, KeyError, TypeError):
            continue
        batch.cursor = entry.get("__CURSOR", batch.cursor)
        program = entry.get("SYSLOG_IDENTIFIER") or entry.get("_COMM") or ""
        record = classify(str(program), _message(entry), epoch)
        if record is not None:
            batch.signins.append(record)
    return batch


def iter_signins(lines: Iterable[bytes | str]) -> Iterator[LaptopSignin]:
    """Convenience: only the records of `parse_lines`."""
    yield from parse_lines(lines).signins
