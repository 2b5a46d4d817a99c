"""The device key: OS key store when there is one, a weaker 0600 file when not; escrow."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import keyring
import pytest

from agent.seal import keys
from agent.seal.format import key_id
from rules import escrow


class MemoryKeyring:
    """Stands in for the OS key store (Credential Manager, Keychain, Secret Service).

    Duck-typed rather than a keyring.backend.KeyringBackend subclass: subclasses register
    themselves with keyring and would become every later caller's default backend.
    """

    priority = 5

    def __init__(self, fail: bool = False) -> None:
        self.items: dict[tuple[str, str], str] = {}
        self.fail = fail

    def get_password(self, service: str, username: str) -> str | None:
        if self.fail:
            raise keyring.errors.KeyringLocked("the collection is locked")
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.items.pop((service, username), None)


def test_this_machine_has_no_os_key_store_so_a_weaker_file_is_used(tmp_path: Path) -> None:
    device = keys.load_device_key(tmp_path)  # the container's keyring backend is fail.Keyring
    assert device.store == "file (weaker: no OS key store)" and device.weaker
    assert "no OS key store" in device.detail
    key_file = tmp_path / keys.KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = keys.load_device_key(tmp_path)
    assert again.key == device.key and len(device.key) == 32
    assert device.status() == {"store": device.store, "weaker": True,
                               "key_id": key_id(device.key).hex(), "detail": device.detail}
    assert device.key.hex() not in repr(device)


def test_widened_key_file_is_narrowed_again(tmp_path: Path) -> None:
    keys.load_device_key(tmp_path)
    os.chmod(tmp_path / keys.KEY_FILE, 0o644)
    keys.load_device_key(tmp_path)
    assert stat.S_IMODE((tmp_path / keys.KEY_FILE).stat().st_mode) == 0o600


def test_os_key_store_is_preferred(tmp_path: Path) -> None:
    ring = MemoryKeyring()
    device = keys.load_device_key(tmp_path, backend=ring)
    assert (device.store, device.weaker) == ("os key store", False)
    assert not (tmp_path / keys.KEY_FILE).exists()
    assert ring.items[(keys.SERVICE, keys.ACCOUNT)]
    assert keys.load_device_key(tmp_path, backend=ring).key == device.key


def test_file_key_moves_into_the_os_key_store_when_one_appears(tmp_path: Path) -> None:
    weak = keys.load_device_key(tmp_path)
    ring = MemoryKeyring()
    strong = keys.load_device_key(tmp_path, backend=ring)
    assert strong.key == weak.key and not strong.weaker
    assert not (tmp_path / keys.KEY_FILE).exists()


def test_unreachable_key_store_never_causes_a_second_key(tmp_path: Path) -> None:
    ring = MemoryKeyring()
    keys.load_device_key(tmp_path, backend=ring)
    with pytest.raises(keys.KeyStoreError, match="not usable now"):
        keys.load_device_key(tmp_path, backend=MemoryKeyring(fail=True))
    with pytest.raises(keys.KeyStoreError, match="not usable now"):
        keys.load_device_key(tmp_path)  # fail backend
    assert json.loads((tmp_path / keys.MARKER_FILE).read_text())["store"] == "keyring"


def test_key_store_failing_on_first_run_falls_back_to_the_file(tmp_path: Path) -> None:
    device = keys.load_device_key(tmp_path, backend=MemoryKeyring(fail=True))
    assert device.weaker and "locked" in device.detail


def test_create_false_does_not_make_a_key(tmp_path: Path) -> None:
    with pytest.raises(keys.KeyStoreError, match="no device key"):
        keys.load_device_key(tmp_path, create=False)


def test_escrow_round_trip_and_refusals(tmp_path: Path) -> None:
    device = keys.load_device_key(tmp_path)
    pair, other = escrow.generate_recovery_keypair(), escrow.generate_recovery_keypair()
    blob = keys.escrow_device_key(device, pair.public_text(), device_id="dev-42")
    described = escrow.describe(blob)
    assert described["key_id"] == device.key_id.hex() and described["device_id"] == "dev-42"
    assert device.key.hex() not in blob.decode()
    assert keys.key_from_escrow(blob, pair.private_pem()) == device.key
    with pytest.raises(escrow.EscrowError, match="wrapped for recovery key"):
        keys.key_from_escrow(blob, other.private_pem())
    doc = json.loads(blob)
    doc["device_id"] = "dev-43"
    with pytest.raises(escrow.EscrowError, match="does not authenticate"):
        keys.key_from_escrow(json.dumps(doc).encode(), pair.private_pem())
