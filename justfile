# nix-deploy-keys recipes. `just --list` shows them; each is also a `deploy-keys` command.
set shell := ["bash", "-euo", "pipefail", "-c"]
set positional-arguments

cli := "node " + quote(justfile_directory() / "dist/scripts/cli/bin.js")

# List the recipes
default:
    @{{quote(just_executable())}} --list --unsorted

# Build the CLI into dist/ (npm install does this too); a no-op when dist/ is current
build:
    @cd {{quote(justfile_directory())}} && if [ ! -f dist/.tsbuildinfo ] || [ -n "$(find scripts package.json tsconfig*.json -newer dist/.tsbuildinfo -print -quit)" ]; then npm run --silent build && touch dist/.tsbuildinfo; fi

# Self-contained demo: own age key, local sshd + git repos, vm-fresh, activate, status
demo: build
    node dist/scripts/demo/main.js

# New host (or complete an existing one): keys, host file, forge registration, activation script
vm-fresh host *args: build
    {{cli}} vm-fresh "$@"

# A new host's ssh host key for nixos-anywhere: `just extra-files web-01 -- nixos-anywhere …` or `--out DIR`
extra-files host *args: build
    {{cli}} extra-files "$@"

# Rotate keys without downtime; `just rotate-keys --finish` removes the old ones
rotate-keys *args: build
    {{cli}} rotate "$@"

# Cut off a compromised host
revoke host *args: build
    {{cli}} revoke "$@"

# Per host and repo: fingerprint, age, registration, last use
status *args: build
    {{cli}} status "$@"

# Prove each host's keys work: a read-only git ls-remote per repo through the host's aliases and pins
check *args: build
    {{cli}} check "$@"

# Exit 1 on drift, unknown, stale, unused or write-enabled keys
audit *args: build
    {{cli}} audit "$@"

# Print a host's activation script
activation host *args: build
    {{cli}} activation "$@"

# All tests (real age, ssh-keygen, sshd, git, shellcheck, nix-instantiate)
test:
    npm test

# Benchmarks; figures go to BENCHMARKS.md (`just bench sops` for one)
bench *names:
    npx tsc -p tsconfig.bench.json
    node bench/run.mjs "$@"
