#!/usr/bin/env bash
# Install (once) the headless browser that the UI's end-to-end tests drive: Debian's Chromium and ChromeDriver,
# plus a CJK font and an emoji font so Chinese text and the app's icons render in the browser and its screenshots.
#
# Why Debian's build: Playwright's own `playwright install` downloads a browser from a CDN that these machines
# cannot reach; tests/test_ui_browser.py points Playwright's Python package at /usr/bin/chromium instead.
# Idempotent: when everything is present it exits at once; `apt-get update` runs only when the package lists
# are missing or the first install attempt fails (stale lists).
set -euo pipefail

PACKAGES=(chromium chromium-driver fonts-wqy-zenhei fonts-noto-color-emoji)

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]] && dpkg -s fonts-wqy-zenhei fonts-noto-color-emoji >/dev/null 2>&1; then
    echo "browser already installed: $(/usr/bin/chromium --version 2>/dev/null || echo 'chromium, unknown version')"
    exit 0
fi

SUDO=""
if [[ "$(id -u)" != "0" ]]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive

if ! compgen -G "/var/lib/apt/lists/*_Packages" >/dev/null; then
    $SUDO apt-get update
fi
if ! $SUDO apt-get install -y "${PACKAGES[@]}"; then
    $SUDO apt-get update
    $SUDO apt-get install -y "${PACKAGES[@]}"
fi
echo "browser ready: $(/usr/bin/chromium --version 2>/dev/null)"
