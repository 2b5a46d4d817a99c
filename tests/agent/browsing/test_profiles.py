"""Profile discovery on the folder layouts of Windows, macOS and Linux (native, snap, flatpak)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from agent.browsing.profiles import discover
from agent.platform.base import BrowserRoot
from agent.platform.linux import LinuxPlatform
from agent.platform.macos import MacPlatform
from agent.platform.windows import WindowsPlatform


def make_db(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sqlite3.connect(path).close()


def chromium_root(root: Path, local_state: dict | None, folders: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    if local_state is not None:
        (root / "Local State").write_text(json.dumps(local_state), encoding="utf-8")
    for folder in folders:
        make_db(root / folder / "History")


def firefox_root(root: Path, ini: str, profiles: list[str]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "profiles.ini").write_text(ini, encoding="utf-8")
    for rel in profiles:
        make_db(root / rel / "places.sqlite")


def found(roots) -> set[tuple[str, str, str, str]]:
    return {(p.browser, p.path.name, p.name, p.packaging) for p in discover(roots)}


def test_chromium_local_state_names_and_folder_fallback(tmp_path):
    root = tmp_path / "chrome"
    state = {"profile": {"info_cache": {"Default": {"name": "Work"},
                                        "Profile 3": {"name": "Personal"},
                                        "Guest Profile": {"name": "Guest"}}}}
    chromium_root(root, state, ["Default", "Profile 3", "Profile 7", "Guest Profile",
                                "System Profile"])
    make_db(root / "Crashpad" / "History")  # not a profile folder
    assert found([BrowserRoot("chrome", "chromium", root)]) == {
        ("chrome", "Default", "Work", "native"), ("chrome", "Profile 3", "Personal", "native"),
        ("chrome", "Profile 7", "Profile 7", "native")}


def test_chromium_broken_local_state_still_finds_folders(tmp_path):
    root = tmp_path / "edge"
    chromium_root(root, None, ["Default"])
    (root / "Local State").write_text("{not json", encoding="utf-8")
    assert found([BrowserRoot("edge", "chromium", root)]) == {
        ("edge", "Default", "Default", "native")}


def test_firefox_profiles_ini_relative_absolute_and_unregistered(tmp_path):
    root = tmp_path / "firefox"
    elsewhere = tmp_path / "elsewhere" / "work.profile"
    ini = ("[General]\nStartWithLastProfile=1\n\n"
           "[Profile0]\nName=default-release\nIsRelative=1\nPath=Profiles/ab12.default-release\n"
           "\n[Profile1]\nName=work\nIsRelative=0\nPath=" + str(elsewhere) + "\n\n"
           "[Profile2]\nName=never-started\nIsRelative=1\nPath=Profiles/zz.empty\n\n"
           "[Install4F96D1932A9F858E]\nDefault=Profiles/ab12.default-release\n")
    firefox_root(root, ini, ["Profiles/ab12.default-release", "Profiles/cd34.unlisted"])
    make_db(elsewhere / "places.sqlite")
    assert found([BrowserRoot("firefox", "firefox", root)]) == {
        ("firefox", "ab12.default-release", "default-release", "native"),
        ("firefox", "work.profile", "work", "native"),
        ("firefox", "cd34.unlisted", "cd34.unlisted", "native")}


def test_linux_native_xdg_snap_and_flatpak_locations(tmp_path):
    home = tmp_path / "home"
    chromium_root(home / ".config/google-chrome", None, ["Default"])
    chromium_root(home / "snap/chromium/common/chromium", None, ["Default"])
    chromium_root(home / ".var/app/com.google.Chrome/config/google-chrome", None, ["Profile 1"])
    one = "[Profile0]\nName=default\nPath=x1.default\n"
    firefox_root(home / ".mozilla/firefox", one, ["x1.default"])
    firefox_root(home / ".config/mozilla/firefox", one, ["x1.default"])
    firefox_root(home / "snap/firefox/common/.mozilla/firefox", one, ["x1.default"])
    firefox_root(home / ".var/app/org.mozilla.firefox/.mozilla/firefox", one, ["x1.default"])
    roots = LinuxPlatform(home=home, env={}).browser_profile_roots()
    profiles = discover(roots)
    where = sorted((p.browser, p.packaging, str(p.path.relative_to(home))) for p in profiles)
    assert where == [
        ("chrome", "flatpak", ".var/app/com.google.Chrome/config/google-chrome/Profile 1"),
        ("chrome", "native", ".config/google-chrome/Default"),
        ("chromium", "snap", "snap/chromium/common/chromium/Default"),
        ("firefox", "flatpak", ".var/app/org.mozilla.firefox/.mozilla/firefox/x1.default"),
        ("firefox", "native", ".config/mozilla/firefox/x1.default"),
        ("firefox", "native", ".mozilla/firefox/x1.default"),
        ("firefox", "snap", "snap/firefox/common/.mozilla/firefox/x1.default")]
    assert len({p.key for p in profiles}) == len(profiles)


def test_windows_and_macos_locations(tmp_path):
    home = tmp_path / "user"
    local, roaming = home / "AppData/Local", home / "AppData/Roaming"
    chromium_root(local / "Microsoft/Edge/User Data", None, ["Default"])
    chromium_root(local / "BraveSoftware/Brave-Browser/User Data", None, ["Profile 2"])
    firefox_root(roaming / "Mozilla/Firefox", "[Profile0]\nPath=Profiles/w.default\n",
                 ["Profiles/w.default"])
    windows = WindowsPlatform(api=object(), home=home, env={})
    assert {(p.browser, p.path.name) for p in discover(windows.browser_profile_roots())} == {
        ("edge", "Default"), ("brave", "Profile 2"), ("firefox", "w.default")}
    support = home / "Library/Application Support"
    chromium_root(support / "Vivaldi", None, ["Default"])
    firefox_root(support / "Firefox", "[Profile0]\nPath=Profiles/m.default\n",
                 ["Profiles/m.default"])
    mac = MacPlatform(home=home)
    assert {(p.browser, p.path.name) for p in discover(mac.browser_profile_roots())} == {
        ("vivaldi", "Default"), ("firefox", "m.default")}


def test_the_same_folder_reached_twice_is_one_profile(tmp_path):
    real = tmp_path / "real"
    chromium_root(real, None, ["Default"])
    link = tmp_path / "link"
    link.symlink_to(real)
    roots = [BrowserRoot("chromium", "chromium", real), BrowserRoot("chromium", "chromium", link)]
    assert len(discover(roots)) == 1
