#!/usr/bin/env bash
# Installs the Debian packages the test-suite needs (Chromium and Firefox ESR for browser tests,
# dbus-daemon for the logind before-sleep tests).
# As root it installs them; otherwise it stops and prints the exact command to run.
set -euo pipefail
needed=()
[ -x /usr/bin/chromium ] || needed+=(chromium)
[ -x /usr/bin/firefox-esr ] || needed+=(firefox-esr)  # browsing-nudge tests (issue 7)
[ -x /usr/bin/dbus-daemon ] || needed+=(dbus)  # a private bus for the before-sleep tests
((${#needed[@]})) || exit 0
if [ "$(id -u)" = 0 ]; then
    echo "installing system packages: ${needed[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
else
    echo "The tests need these Debian packages. Run:" >&2
    echo "    sudo apt-get update && sudo apt-get install -y ${needed[*]}" >&2
    exit 1
fi
