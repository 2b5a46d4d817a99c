"""The device seal key: 32 random bytes in the OS key store, or a weaker 0600 file.

`keyring` reaches Windows Credential Manager, the macOS Keychain or the Secret Service. When no
usable backend exists (keyring's fail/null backends, a locked or absent Secret Service), the
key lives in `seal-device.key` in the agent's state folder, owner-only, and `status` says
"file (weaker: no OS key store)". A small non-secret marker (`seal-key.json`) remembers where
the key lives, so a key store that is only temporarily unreachable never causes a second key
to be made (files sealed with the first would then wait for it). A file key is moved into the
OS key store as soon as one becomes usable. Escrow wraps the key with `rules.escrow`.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from agent.seal.format import DEVICE_KEY_LEN, key_id
from rules import escrow

SERVICE, ACCOUNT = "heedful-agent", "seal-device-key"
KEY_FILE, MARKER_FILE = "seal-device.key", "seal-key.json"
OS_STORE, FILE_STORE = "os key store", "file (weaker: no OS key store)"


class KeyStoreError(Exception):
    """The device key cannot be read or stored; the message says where and why."""


@dataclass(frozen=True)
class DeviceKey:
    """The key in use, where it lives, and any older keys still needed to open files."""

    key: bytes = field(repr=False)
    store: str
    weaker: bool
    detail: str = ""
    others: tuple[bytes, ...] = field(default=(), repr=False)

    @property
    def key_id(self) -> bytes:
        """The key's public identifier (format.key_id)."""
        return key_id(self.key)

    def open_keys(self) -> dict[bytes, bytes]:
        """key id -> key for every key this device can open files with."""
        return {key_id(k): k for k in (*self.others, self.key)}

    def status(self) -> dict[str, object]:
        """For `seal-status` and the check-in: where the key lives (never the key)."""
        return {"store": self.store, "weaker": self.weaker, "key_id": self.key_id.hex(),
                "detail": self.detail}


def _backend_problem(backend: object) -> str:
    """Why a keyring backend cannot hold the key, or "" if it can."""
    module = type(backend).__module__
    if module.endswith((".fail", ".null")):
        return f"no OS key store available (keyring backend {module})"
    if getattr(backend, "priority", 1) <= 0:
        return f"keyring backend {type(backend).__name__} has no usable priority"
    if module.endswith(".chainer") and not getattr(backend, "backends", []):
        return "no OS key store available (no keyring backends)"
    return ""


class KeyringStore:
    """The key in the OS key store through `keyring` (the backend is injectable for tests)."""

    def __init__(self, backend: object | None = None) -> None:
        if backend is None:
            import keyring

            backend = keyring.get_keyring()
        self.backend = backend
        self.problem = _backend_problem(backend)
        self.name = f"{type(backend).__module__}.{type(backend).__name__}"

    def load(self) -> bytes | None:
        """The stored key, None if there is none; KeyStoreError if the store fails."""
        try:
            text = self.backend.get_password(SERVICE, ACCOUNT)  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - keyring backends raise anything
            raise KeyStoreError(f"OS key store {self.name} failed to read: {exc}") from exc
        return None if text is None else _decode(text, f"OS key store {self.name}")

    def save(self, key: bytes) -> None:
        """Store the key and read it back."""
        try:
            self.backend.set_password(SERVICE, ACCOUNT,  # type: ignore[attr-defined]
                                      base64.b64encode(key).decode())
        except Exception as exc:  # noqa: BLE001
            raise KeyStoreError(f"OS key store {self.name} failed to store: {exc}") from exc
        if self.load() != key:
            raise KeyStoreError(f"OS key store {self.name} did not return the key it stored")


class FileKeyStore:
    """The key in a 0600 file, replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def load(self) -> bytes | None:
        """The key, or None if the file does not exist."""
        try:
            text = self.path.read_text(encoding="ascii")
        except FileNotFoundError:
            return None
        if os.name == "posix" and self.path.stat().st_mode & 0o077:
            os.chmod(self.path, 0o600)  # someone widened it; narrow it again
        return _decode(text, str(self.path))

    def save(self, key: bytes) -> None:
        """Write the key durably, readable by the owner only."""
        _write_private(self.path, base64.b64encode(key).decode() + "\n")

    def remove(self) -> None:
        """Delete the key file (after the key moved to the OS key store)."""
        self.path.unlink(missing_ok=True)


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except binascii.Error as exc:
        raise KeyStoreError(f"the device key in {where} is not base64: {exc}") from None
    if len(key) != DEVICE_KEY_LEN:
        raise KeyStoreError(f"the device key in {where} has {len(key)} bytes, expected 32")
    return key


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load_device_key(state_dir: Path, *, backend: object | None = None,
                    create: bool = True) -> DeviceKey:
    """The device key: from the OS key store, else the file; made on first use if `create`."""
    state_dir = Path(state_dir)
    ring, file_store = KeyringStore(backend), FileKeyStore(state_dir / KEY_FILE)
    marker_path = state_dir / MARKER_FILE
    marker = json.loads(marker_path.read_text()) if marker_path.exists() else {}
    file_key = file_store.load()
    problem = ring.problem
    if not problem:
        try:
            found = _from_keyring(ring, file_store, file_key, create)
        except KeyStoreError as exc:
            problem, found = str(exc), None
        if found is not None:
            _write_marker(marker_path, "keyring", found.key)
            return found
    if marker.get("store") == "keyring":
        raise KeyStoreError(f"the device key {marker.get('key_id')} is in the OS key store, "
                            f"which is not usable now: {problem}")
    if file_key is None:
        if not create:
            raise KeyStoreError(f"no device key in {file_store.path}")
        file_key = os.urandom(DEVICE_KEY_LEN)
        file_store.save(file_key)
    _write_marker(marker_path, "file", file_key)
    return DeviceKey(file_key, FILE_STORE, True, problem or str(file_store.path))


def _from_keyring(ring: KeyringStore, file_store: FileKeyStore, file_key: bytes | None,
                  create: bool) -> DeviceKey | None:
    key = ring.load()
    if key is None and (file_key is not None or create):
        key = file_key or os.urandom(DEVICE_KEY_LEN)
        ring.save(key)
    if key is None:
        return None
    if file_key == key:
        file_store.remove()  # moved into the OS key store
    others = (file_key,) if file_key is not None and file_key != key else ()
    return DeviceKey(key, OS_STORE, False, ring.name, others)


def _write_marker(path: Path, store: str, key: bytes) -> None:
    _write_private(path, json.dumps({"store": store, "key_id": key_id(key).hex()}))


def escrow_device_key(device_key: DeviceKey, recovery_public: str | bytes,
                      device_id: str = "") -> bytes:
    """The escrow blob for this device key (opaque bytes the server stores)."""
    return escrow.wrap_key(device_key.key, escrow.load_public_key(recovery_public),
                           key_id=device_key.key_id.hex(), device_id=device_id)


def key_from_escrow(blob: bytes, recovery_private: str | bytes) -> bytes:
    """The device key inside an escrow blob, checked against the key id it was bound to."""
    unwrapped = escrow.unwrap_key(blob, escrow.load_private_key(recovery_private))
    if len(unwrapped.secret) != DEVICE_KEY_LEN or key_id(unwrapped.secret).hex() != \
            unwrapped.key_id:
        raise escrow.EscrowError("the unwrapped key does not match the key id it was bound to")
    return unwrapped.secret
