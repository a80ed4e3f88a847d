#!/usr/bin/env bash
# Installs the system packages the project needs on a fresh Debian machine (idempotent).
# tshark is the outside oracle the reassembly tests compare against.
set -euo pipefail
need=()
command -v tshark >/dev/null 2>&1 || need+=(tshark)
command -v editcap >/dev/null 2>&1 || need+=(tshark)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=600 tshark >/dev/null
fi
command -v swift >/dev/null 2>&1 || { echo "swift is not on PATH (Swift 6 toolchain needed)" >&2; exit 1; }
