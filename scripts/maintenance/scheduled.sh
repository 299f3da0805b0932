#!/bin/sh
# Scheduled deploy-keys maintenance on a checkout of the secrets repository
# (the one holding deploy-keys.yaml). The NixOS module nix/maintenance.nix and
# the GitHub Actions template examples/github-actions/deploy-keys.yml run it.
#
#   scheduled.sh [OPTIONS] rotate
#       sync; deploy-keys rotate --all --yes (keys past rotation.max_age_days);
#       deploy-keys rotate --finish --all --yes (old keys once the new one was
#       used, or after rotation.grace_days); commit; push.
#   scheduled.sh [OPTIONS] audit [AUDIT OPTIONS...]
#       sync; deploy-keys audit AUDIT OPTIONS (e.g. --format prometheus --output FILE).
#
# Options:
#   --dir DIR        the checkout (default: the current directory); cloned from
#                    --remote when it does not exist yet
#   --config FILE    deploy-keys.yaml (default: DIR/deploy-keys.yaml)
#   --remote REMOTE  git remote name or URL to pull from and push to; without
#                    it nothing is pulled or pushed (changes are still committed)
#   --branch BRANCH  branch to pull and push (default: the checked-out branch)
#   --no-commit      leave rotate's changes uncommitted
#
# Sync: the checkout must have no uncommitted changes to tracked files, and is
# fast-forwarded to REMOTE/BRANCH; a checkout that diverged fails the run.
# Only changes to files git already tracks are committed (`git add -u`): the
# rotation edits host files, state files, the change log and activation
# scripts, and never creates a file, while an untracked file (a GitHub App
# key written beside the config, a lock file) is never committed. The commit
# author is $GIT_AUTHOR_NAME/$GIT_AUTHOR_EMAIL, else deploy-keys.
#
# Exit status: 0 when every step succeeded (audit: and found nothing), 1
# otherwise, 2 for a usage error. A failed rotate or --finish does not stop
# the other steps: what was done is committed and pushed either way, so the
# repository never lags behind the forge; the run then exits 1. A rotation
# stopped by SIGTERM, SIGINT or SIGHUP (shutdown, a CI timeout) commits and
# pushes what its finished steps wrote before it exits 1; the next run
# resumes the rest (deploy-keys journals every step).
set -eu

prog=deploy-keys-scheduled
die() {
  printf '%s: %s\n' "$prog" "$1" >&2
  exit "${2:-1}"
}
usage() { die "$1 (usage: scheduled.sh [--dir DIR] [--config FILE] [--remote REMOTE] [--branch BRANCH] [--no-commit] rotate|audit [AUDIT OPTIONS...])" 2; }

dir=. config="" remote="" branch="" commit=1
while [ $# -gt 0 ]; do
  case $1 in
    --dir | --config | --remote | --branch)
      [ $# -ge 2 ] || usage "$1 needs a value"
      case $1 in
        --dir) dir=$2 ;;
        --config) config=$2 ;;
        --remote) remote=$2 ;;
        --branch) branch=$2 ;;
      esac
      shift 2
      ;;
    --no-commit) commit=0 && shift ;;
    --) shift && break ;;
    -*) usage "unknown option $1" ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || usage "missing rotate or audit"
job=$1
shift
case $job in
  rotate) [ $# -eq 0 ] || usage "rotate takes no further arguments" ;;
  audit) ;;
  *) usage "unknown job $job" ;;
esac

dk() {
  if [ -n "$config" ]; then deploy-keys --config "$config" "$@" 3>&- 4>&-; else deploy-keys "$@" 3>&- 4>&-; fi
}

if [ ! -e "$dir" ] && [ -n "$remote" ]; then
  case $remote in
    */* | *:*) ;;
    *) die "$dir does not exist, and --remote $remote is a remote name, not a URL to clone" ;;
  esac
  echo "$prog: cloning $remote into $dir"
  git clone --quiet ${branch:+--branch "$branch"} -- "$remote" "$dir"
fi
cd "$dir" || die "cannot enter $dir"
git rev-parse --git-dir >/dev/null 2>&1 || die "$dir is not a git checkout (clone the secrets repository there, or pass --remote URL)"
if [ -z "$branch" ]; then
  branch=$(git symbolic-ref --quiet --short HEAD) || die "$dir: HEAD is detached; pass --branch"
fi

dirty=$(git status --porcelain --untracked-files=no)
[ -z "$dirty" ] || die "$dir has uncommitted changes to tracked files ($(printf '%s\n' "$dirty" | head -n 3 | tr '\n' ' ' | sed 's/ $//')); commit or discard them first (a run killed with SIGKILL leaves its steps uncommitted: commit them, and the next run resumes)"

if [ -n "$remote" ]; then
  git fetch --quiet -- "$remote" "$branch"
  git merge --ff-only --quiet FETCH_HEAD 2>/dev/null ||
    die "$dir has commits that $remote/$branch does not have (an earlier push failed?): merge and push them by hand"
fi

if [ "$job" = audit ]; then
  status=0
  dk audit "$@" || status=$?
  exit "$status"
fi

GIT_AUTHOR_NAME=${GIT_AUTHOR_NAME:-deploy-keys}
GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL:-deploy-keys@localhost}
GIT_COMMITTER_NAME=${GIT_COMMITTER_NAME:-$GIT_AUTHOR_NAME}
GIT_COMMITTER_EMAIL=${GIT_COMMITTER_EMAIL:-$GIT_AUTHOR_EMAIL}
export GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL GIT_COMMITTER_NAME GIT_COMMITTER_EMAIL

# Stopped half way (shutdown, a CI timeout): the forge may already hold keys
# whose private halves only this checkout has. Commit (and try to push) what
# the finished steps wrote; deploy-keys journals every step, so the next run
# resumes the rest.
# shellcheck disable=SC2317 # run by the trap below
interrupted() {
  trap - INT TERM HUP
  # Runs wherever the signal found the script, maybe inside a redirection: fds 4 and 3 are the real stdout and stderr.
  exec 1>&4 2>&3
  echo "$prog: stopped by a signal; committing what the finished steps wrote" >&2
  git add -u
  if ! git diff --cached --quiet; then
    git commit --quiet --no-verify -m "deploy-keys: scheduled rotation, interrupted" \
      -m "Stopped by a signal after some of its steps; the next scheduled run resumes the rest."
    if [ -n "$remote" ]; then
      git push --quiet -- "$remote" "HEAD:refs/heads/$branch" || echo "$prog: push failed; $dir keeps the commit for the next run" >&2
    fi
  fi
  exit 1
}
exec 3>&2 4>&1
trap interrupted INT TERM HUP

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
rc=0
# Output goes to the log after each command (a pipe through tee would hide its exit status in sh).
for step in rotate finish; do
  if [ $step = rotate ]; then dk rotate --all --yes >"$tmp/$step" 2>&1 || rc=1; else dk rotate --finish --all --yes >"$tmp/$step" 2>&1 || rc=1; fi
  cat "$tmp/$step"
done

git add -u
if git diff --cached --quiet; then
  echo "$prog: nothing changed"
  exit "$rc"
fi
if [ "$commit" = 0 ]; then
  echo "$prog: changes left uncommitted (--no-commit)"
  exit "$rc"
fi

# Subject: the hosts whose state changed; body: what rotate and --finish did.
hosts=$(git diff --cached --name-only | sed -n 's|^\(.*/\)\{0,1\}deploy-keys-state/\([^/]*\)\.json$|\2|p' | tr '\n' ' ' | sed 's/ $//; s/ /, /g')
subject="deploy-keys: scheduled rotation${hosts:+ ($hosts)}"
# A host's block is its unindented line and the indented ones after it.
keep=0
cat "$tmp/rotate" "$tmp/finish" | while IFS= read -r line; do
  case $line in
    ' '*) ;;
    *': nothing to do'*) keep=0 ;;
    *) keep=1 ;;
  esac
  [ "$keep" = 0 ] || printf '%s\n' "$line"
done >"$tmp/body"
[ "$rc" = 0 ] || printf '\nSome hosts failed (see the messages above); the next run retries them.\n' >>"$tmp/body"
printf '%s\n\n' "$subject" | cat - "$tmp/body" | git commit --quiet --no-verify --file=-
echo "$prog: committed \"$subject\""

if [ -n "$remote" ]; then
  if ! git push --quiet -- "$remote" "HEAD:refs/heads/$branch" 2>"$tmp/push"; then
    # Someone pushed meanwhile: replay this commit on top once (the files
    # rotation touched rarely change elsewhere), else leave it for a person.
    cat "$tmp/push" >&2
    git fetch --quiet -- "$remote" "$branch"
    if ! git rebase --quiet FETCH_HEAD >/dev/null 2>&1; then
      git rebase --abort >/dev/null 2>&1 || true
      die "push to $remote $branch was rejected and the commit does not apply to it; $dir keeps the commit: merge and push it by hand (the forge already has the new keys)"
    fi
    git push --quiet -- "$remote" "HEAD:refs/heads/$branch" || die "push to $remote $branch failed; $dir keeps the commit: push it by hand (the forge already has the new keys)"
  fi
  echo "$prog: pushed to $remote $branch"
fi
exit "$rc"
