#!/usr/bin/env bash
# Make a headless Chromium available for the browser tests (tests/viewer/): Debian's `chromium`.
# Idempotent: if a chromium binary is already on PATH, it only prints its version.
# Installing needs root and the network (apt); without them the browser tests skip, and CI
# (.ci/run, root) installs it here first so they run.
set -euo pipefail

found() { command -v chromium || command -v chromium-browser || true; }

if [[ -z $(found) ]]; then
    [[ $(id -u) == 0 ]] || { echo "browser up: FAILED: chromium missing and not root (apt-get install chromium)" >&2; exit 1; }
    echo "browser up: installing chromium with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || { echo "browser up: FAILED: apt-get update failed" >&2; exit 1; }
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null ||
        { echo "browser up: FAILED: apt-get install chromium failed" >&2; exit 1; }
fi
BIN=$(found)
[[ -n $BIN ]] || { echo "browser up: FAILED: no chromium after install" >&2; exit 1; }
echo "browser up: $("$BIN" --version 2>/dev/null | head -n1) at $BIN"
