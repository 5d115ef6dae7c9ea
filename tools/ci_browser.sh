#!/usr/bin/env bash
# Chromium for the browser test (tests/test_serve.py), from the system's packages: Playwright
# drives it; it never downloads a browser of its own. Installs only when missing and when it can
# (root with apt-get, as in CI); otherwise says how and lets the test skip (it fails under CI).
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium for the browser test (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
else
    echo "note: no chromium on PATH; the browser test will be skipped (install: sudo apt-get install chromium)"
fi
