#!/usr/bin/env bash
# Installs the system packages the project needs on a fresh Debian 12 machine (idempotent):
#   libhyperscan-dev  multi-pattern matching for Signature_Match (needed to build)
#   libpcre2-dev      regular expressions Hyperscan cannot take (back-references, relative pcre)
#   zlib1g-dev        gzip/deflate HTTP bodies, decompressed for inspection
#   DPDK 22.11        the fast path's ports (built in when its headers exist; installed
#                     before the first swift command, or the build keeps the stub)
#   libsqlite3-dev    the controller's store (GRDB links the system SQLite)
#   tshark            the reassembly oracle in the tests
#   curl, nginx-light, haproxy, wrk, openssl   real clients and servers for the active μStacks
#   suricata          the alert oracle in the tests and the baseline in benchmarks
#                     (bookworm-backports, added for this install only)
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
APT_OPTS=(-y -qq -o DPkg::Lock::Timeout=600)

need=()
[ -f /usr/include/hs/hs.h ] || need+=(libhyperscan-dev)
[ -f /usr/include/pcre2.h ] || need+=(libpcre2-dev)
[ -f /usr/include/zlib.h ] || need+=(zlib1g-dev)
[ -f /usr/include/dpdk/rte_eal.h ] || need+=(libdpdk-dev dpdk dpdk-dev librte-net-null23 librte-net-ring23
  librte-net-pcap23 librte-net-af-packet23 librte-net-tap23)
[ -f /usr/include/sqlite3.h ] || need+=(libsqlite3-dev)
command -v tshark >/dev/null 2>&1 || need+=(tshark)
# Real clients and servers for the active stacks' tests and benchmarks.
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v python3 >/dev/null 2>&1 || need+=(python3)  # scripts/impair.py (tc netem's stand-in)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)  # packaging/ units checked by the tests
[ -d /usr/lib/postgresql ] || need+=(postgresql)  # the controller's PostgreSQL store, tested against a throw-away cluster
command -v chromium >/dev/null 2>&1 || need+=(chromium)  # the web console, checked in headless Chromium
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install "${APT_OPTS[@]}" "${need[@]}" >/dev/null
fi

if ! command -v suricata >/dev/null 2>&1; then
  # Suricata 7 is in bookworm-backports; use it without changing the machine's sources.
  parts=$(mktemp -d)
  mkdir -p "$parts/parts" "$parts/lists/partial"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Suites: bookworm bookworm-updates$/Suites: bookworm bookworm-updates bookworm-backports/' \
      /etc/apt/sources.list.d/debian.sources > "$parts/parts/debian.sources"
  else
    echo "deb http://deb.debian.org/debian bookworm-backports main" > "$parts/parts/backports.list"
  fi
  opts=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$parts/parts" -o "Dir::State::Lists=$parts/lists")
  $SUDO apt-get "${opts[@]}" update -qq
  $SUDO apt-get "${opts[@]}" install "${APT_OPTS[@]}" -t bookworm-backports suricata >/dev/null
  rm -rf "$parts"
fi
command -v swift >/dev/null 2>&1 || { echo "swift is not on PATH (Swift 6 toolchain needed)" >&2; exit 1; }
