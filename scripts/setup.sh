#!/bin/sh
# One command from a fresh Debian 12 machine to a working demo:
#   sh scripts/setup.sh            install system packages + npm deps, build, run `just demo`
#   sh scripts/setup.sh --no-demo  the same without the demo
# System packages: age (CLI, for interop checks), openssh (sshd serves the demo's
# git repos), git, shellcheck and nix-bin (tests check the emitted sh and .nix),
# bsdutils (`script`: tests drive the CLI on a real terminal), iproute2 (`ip`:
# the private-inputs test brings up loopback in its own network namespace),
# openssl (a throwaway CA for the loopback services the real sops talks to),
# systemd (`systemd-analyze verify` checks the NixOS modules' unit files).
set -eu
cd "$(dirname "$0")/.."

PACKAGES="age openssh-server openssh-client git shellcheck nix-bin bsdutils iproute2 ca-certificates openssl systemd"

missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  echo "setup: installing Debian packages:$missing"
  $sudo apt-get update -qq
  # shellcheck disable=SC2086 # word splitting of the package list is intended
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "setup: Node.js >= 20 is required (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

# Exactly the locked dependency tree (`prepare` builds dist/).
npm ci --no-audit --no-fund --loglevel=error
# The real sops (3.9.2, pinned by hash) the interop tests read our files with.
node scripts/fetch-real-sops.mjs

if [ "${1:-}" != "--no-demo" ]; then
  exec npx just demo
fi
