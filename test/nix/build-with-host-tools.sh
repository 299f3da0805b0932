#!/bin/sh
# Builds the flake's package with the stand-in nixpkgs of test/nix/stub-nixpkgs
# (nixpkgs' real lib; the host's node, npm, ssh and git instead of nixpkgs'
# packages; a minimal stdenv), where all of nixpkgs is not at hand:
#  - the npm dependencies' fixed-output derivation for real: it needs the npm
#    registry, and Nix checks its output against nix/npm-deps.json's hash;
#  - the package's build, install and install-check phases.
# Sandboxing is off so that the builders can run the host's tools; single-user
# Nix as root (Debian's nix-bin). Usage: sh test/nix/build-with-host-tools.sh [ATTR]
# (default deploy-keys; e.g. deploy-keys.npmDeps). Prints the output path.
set -eu
cd "$(dirname "$0")/../.."
stub=$(mktemp -d)
trap 'rm -rf "$stub"' EXIT
cp test/nix/stub-nixpkgs/flake.nix "$stub/"
nix-instantiate --eval --strict --json -E '(import ./test/nix/inputs.nix).pins.nixpkgs-lib' >"$stub/pins.json"
# The flake as git sees it (tracked files), not node_modules.
nix --extra-experimental-features 'nix-command flakes' build --no-link --json \
  --option sandbox false --option build-users-group '' --option substituters '' \
  --override-input nixpkgs "path:$stub" ".#${1:-deploy-keys}" |
  sed -n 's/.*"out":"\([^"]*\)".*/\1/p'
