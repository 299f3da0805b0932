#!/bin/sh
# @HEADER@
#
# git's ssh command for this host's deploy keys. The activation script
# installs it as ~/.ssh/deploy-keys-git-ssh of the keys' owner and points
# git's core.sshCommand at it: in /etc/gitconfig for root (git reads the
# system file whatever HOME is, so sudo, systemd services and nix-daemon
# clients all see it), in ~/.gitconfig for another user. The command is
# guarded: whoever cannot execute this file (any other user) runs plain ssh.
#
# git runs it as
#   THIS [-o SendEnv=GIT_PROTOCOL] [-4|-6] [-p PORT] [USER@]HOST COMMAND
# with COMMAND "git-upload-pack '<path>'" (clone, fetch, ls-remote; every
# Nix git fetch) or "git-upload-archive '<path>'". When HOST, PORT and <path>
# name a repo listed below and the caller owns that repo's key, it connects
# through the repo's ssh alias (~/.ssh/config: its one key, its pinned host
# keys). One key per repo matters: GitHub takes the first deploy key that
# authenticates and then refuses every other repo, so ssh must never offer
# several. Anything else (other repos, pushes, other users, git's "ssh -G"
# probe) runs plain ssh with the arguments unchanged.
set -u
# ssh holds a deploy key in memory: no core file.
# shellcheck disable=SC3045 # ulimit -c: not POSIX, but dash, bash and busybox sh have it
ulimit -c 0 2>/dev/null || :

# @DATA@

# What git passed, checked word by word; anything unexpected goes to plain ssh.
dk_family='' dk_sendenv=0 dk_port=22 dk_dest='' dk_cmd='' dk_want=option
for dk_arg do
  case $dk_want in
    option)
      case $dk_arg in
        -4 | -6) dk_family=$dk_arg ;;
        -o) dk_want=o-value ;;
        -p) dk_want=port ;;
        -*) exec ssh "$@" ;;
        *) dk_dest=$dk_arg dk_want=command ;;
      esac
      ;;
    o-value)
      [ "$dk_arg" = SendEnv=GIT_PROTOCOL ] || exec ssh "$@"
      dk_sendenv=1 dk_want=option
      ;;
    port)
      case $dk_arg in '' | *[!0-9]*) exec ssh "$@" ;; esac
      dk_port=$dk_arg dk_want=option
      ;;
    command) dk_cmd=$dk_arg dk_want=nothing ;;
    *) exec ssh "$@" ;;
  esac
done
[ "$dk_want" = nothing ] || exec ssh "$@"

# git single-quotes the path (and escapes quotes in it): a quote or a
# backslash left after stripping the outer pair means no managed repo.
dk_q="'"
case $dk_cmd in
  "git-upload-pack $dk_q"*"$dk_q" | "git-upload-archive $dk_q"*"$dk_q") ;;
  *) exec ssh "$@" ;;
esac
dk_path=${dk_cmd#* "$dk_q"}
dk_path=${dk_path%"$dk_q"}
case $dk_path in '' | *[!A-Za-z0-9._~/-]*) exec ssh "$@" ;; esac
# The key form of a path: no leading or trailing slashes, no .git suffix.
while :; do
  case $dk_path in
    /*) dk_path=${dk_path#/} ;;
    */) dk_path=${dk_path%/} ;;
    *) break ;;
  esac
done
dk_path=${dk_path%.git}

case $dk_dest in
  *@*) dk_user=${dk_dest%@*} dk_host=${dk_dest##*@} ;;
  *) dk_user='' dk_host=$dk_dest ;;
esac
case $dk_host in '' | *[!A-Za-z0-9.:-]*) exec ssh "$@" ;; esac
# Host names compare case-insensitively.
case $dk_host in *[A-Z]*) dk_host=$(printf '%s\n' "$dk_host" | tr '[:upper:]' '[:lower:]') ;; esac

dk_repo "$dk_host" "$dk_port" "$dk_path" || exec ssh "$@"
[ -z "$dk_user" ] || [ "$dk_user" = "$DK_USER" ] || exec ssh "$@"
# Only the key's owner has the alias: ssh reads the ~/.ssh/config of the
# caller's passwd entry, whatever HOME says.
if [ ! -O "$DK_KEY" ] || [ ! -r "$DK_KEY" ]; then exec ssh "$@"; fi

# The alias sets host, port and user; keep git's protocol and address family.
set -- "$DK_ALIAS" "$dk_cmd"
[ "$dk_sendenv" = 0 ] || set -- -o SendEnv=GIT_PROTOCOL "$@"
[ -z "$dk_family" ] || set -- "$dk_family" "$@"
exec ssh "$@"
