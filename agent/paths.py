"""Where the agent keeps its state: one folder per user.

Resolution order: the `--home` option, the `HEEDFUL_AGENT_HOME` environment variable, then the
platform's per-user data folder (platformdirs: `~/.local/share/heedful-agent`,
`~/Library/Application Support/heedful-agent`, `%LOCALAPPDATA%\\Heedful\\heedful-agent`).
The folder is private to the user (0700 where the OS has modes).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_HOME = "HEEDFUL_AGENT_HOME"
DB_NAME = "agent.db"
LOCALAPI_FILE = "localapi.json"  # where the running agent says how to reach its local API
SECRET_FILE = "localapi.secret"  # the per-user secret for the local API (0600)
LOG_FILE = "agent.log"


def resolve_home(option: str | os.PathLike[str] | None = None) -> Path:
    """The state folder, created if missing, private to the user."""
    if option:
        home = Path(option)
    elif os.environ.get(ENV_HOME):
        home = Path(os.environ[ENV_HOME])
    else:
        import platformdirs

        home = Path(platformdirs.user_data_dir("heedful-agent", "Heedful"))
    home = home.expanduser().resolve()
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        os.chmod(home, 0o700)
    return home


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` readable by the owner only, replacing it atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    if os.name == "posix":
        os.chmod(tmp, 0o600)
    os.replace(tmp, path)
