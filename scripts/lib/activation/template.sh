#!/bin/sh
# @HEADER@
#
# Installs this host's read-only deploy keys for the user named below, keeps a
# managed block of ssh aliases in ~/.ssh/config, pins the forges' host keys,
# points git's ssh at the keys (so Nix fetches the repos' usual URLs through
# them) and clones the repos. It holds no secret: the private keys come from a
# directory (sops-nix) or standard input. Safe to run again: a run with
# nothing to do rewrites nothing and prints "no changes".
#
# Usage: sh THIS-SCRIPT [options]
#   --keys-dir DIR   read each repo's private key from DIR/<repo>
#                    (default: ROOT/run/secrets/deploy-keys, where sops-nix puts
#                    the secrets "deploy-keys/<repo>"; DIR is not prefixed by ROOT)
#   --keys-stdin     read the keys from standard input instead, framed as:
#                        deploy-keys-stream v1
#                        key <repo>
#                        -----BEGIN OPENSSH PRIVATE KEY-----
#                        ...
#                        -----END OPENSSH PRIVATE KEY-----
#                        key <repo>            (one block per repo)
#                        ...
#                        end
#                    A stream that is malformed or ends before "end" is refused
#                    and nothing is written.
#   --root DIR       prefix every absolute path the script touches with DIR
#                    (tests, nixos-install style chroots); the files it writes
#                    still name the paths as the host will see them. A symlink
#                    below DIR on the way to a file it writes fails that step
#   --git-ssh / --no-git-ssh
#                    install (or remove) git's ssh command for the deploy keys:
#                    git fetches of the repos' usual ssh URLs (git@host:owner/repo,
#                    ssh://, Nix's git+ssh://) by this user go through their
#                    alias and key, anything else through plain ssh
#                    (default: as rendered)
#   --insteadof / --no-insteadof
#                    write (or remove) git url.<alias>.insteadOf rules in
#                    ~/.gitconfig for the repos' usual URLs (default: as rendered)
#   --pull           fast-forward existing checkouts (default: leave them alone)
#   --no-clone       keys, ssh config and git config only; no network (activation)
#   --stage          with --root: write the tree as whoever runs the script, for
#                    a copy that installs it as the user (nixos-anywhere
#                    --extra-files, whose files arrive owned by root)
#   -q, --quiet      print only changes and errors
#   -h, --help       print this usage
#
# Files (HOME is the user's home below; every path prefixed by --root):
#   HOME/.ssh/<repo>-deploy         private key, 0600, a real file, replaced atomically
#   HOME/.ssh/<repo>-deploy.pub     public key, 0644
#   HOME/.ssh/config                a marked block, placed first; other lines untouched
#   HOME/.ssh/deploy-keys_known_hosts  the pinned host keys the aliases trust
#   HOME/.ssh/.deploy-keys-managed  manifest of what this script owns; keys and
#                                   git rules of repos no longer configured are removed
#   HOME/.ssh/deploy-keys-git-ssh   git's ssh command for the deploy keys, 0700
#   /etc/gitconfig (user root), else HOME/.gitconfig
#                                   core.sshCommand naming it (with --git-ssh);
#                                   git reads /etc/gitconfig whatever HOME is
#   HOME/.gitconfig                 insteadOf rules (only with --insteadof)
#   <clone_to>                      clone through the alias when absent
#
# Must run as the user it installs for (e.g. runuser -u USER -- sh THIS-SCRIPT).
# Needs: ssh-keygen (to check a new key), git and ssh (clone, insteadOf),
# id, mkdir, chmod, mv, rm.
# Exit status: 0 done; 1 some repo or step failed (named on the last line);
# 2 bad usage or input, nothing written.
# shellcheck disable=SC2317 # helpers are called through dk_repos "$@"
set -eu
umask 077
# The private keys live in shell variables: "sh -x" would print them.
set +x
# Nor may a crash write them to a core file (this shell, ssh-keygen, ssh, git).
# shellcheck disable=SC3045 # ulimit -c: not POSIX, but dash, bash and busybox sh have it
ulimit -c 0 2>/dev/null || :

# @DATA@

DK_NL='
'
DK_BEGIN='# BEGIN nix-deploy-keys'
DK_END='# END nix-deploy-keys'
DK_STREAM_HEADER='deploy-keys-stream v1'

DK_ROOT=''
DK_KEYS_DIR=''
DK_KEYS_STDIN=0
DK_CLONE=1
DK_STAGE=0
DK_QUIET=0
DK_CHANGED=0
DK_FAILED=''
DK_TMP=''
DK_K=''
DK_E=''

dk_say() { [ "$DK_QUIET" = 1 ] || printf 'deploy-keys: %s\n' "$*"; }
dk_change() { DK_CHANGED=1; printf 'deploy-keys: %s\n' "$*"; }
dk_warn() { printf 'deploy-keys: %s\n' "$*" >&2; }
# Usage and input errors: raised before anything is written.
dk_die() { printf 'deploy-keys: error: %s\n' "$*" >&2; exit 2; }
# A failed repo or step: reported, the others go on, the exit status is 1.
dk_fail() { printf 'deploy-keys: FAILED %s: %s\n' "$1" "$2" >&2; DK_FAILED="$DK_FAILED $1"; }

dk_usage() {
  printf '%s\n' "usage: sh $0 [--keys-dir DIR | --keys-stdin] [--root DIR] [--git-ssh | --no-git-ssh] [--insteadof | --no-insteadof] [--pull] [--no-clone] [--stage] [-q]" \
    "Installs the deploy keys of host $DK_HOST for user $DK_USER; see the comment at the top of the script."
}

while [ $# -gt 0 ]; do
  case $1 in
    --root) [ $# -ge 2 ] || dk_die "--root needs a directory"; DK_ROOT=$2; shift ;;
    --root=*) DK_ROOT=${1#--root=} ;;
    --keys-dir) [ $# -ge 2 ] || dk_die "--keys-dir needs a directory"; DK_KEYS_DIR=$2; shift ;;
    --keys-dir=*) DK_KEYS_DIR=${1#--keys-dir=} ;;
    --keys-stdin) DK_KEYS_STDIN=1 ;;
    --insteadof) DK_INSTEADOF=1 ;;
    --no-insteadof) DK_INSTEADOF=0 ;;
    --git-ssh) DK_GIT_SSH=1 ;;
    --no-git-ssh) DK_GIT_SSH=0 ;;
    --pull) DK_PULL=1 ;;
    --no-pull) DK_PULL=0 ;;
    --no-clone) DK_CLONE=0 ;;
    --stage) DK_STAGE=1 ;;
    -q | --quiet) DK_QUIET=1 ;;
    -h | --help) dk_usage; exit 0 ;;
    *) dk_die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

[ "$DK_KEYS_STDIN" = 0 ] || [ -z "$DK_KEYS_DIR" ] || dk_die "--keys-dir and --keys-stdin exclude each other"
while :; do
  case $DK_ROOT in */) DK_ROOT=${DK_ROOT%/} ;; *) break ;; esac
done
case $DK_ROOT in
  '') ;;
  *[!A-Za-z0-9._/@+-]*) dk_die "--root must be a path of letters, digits and . _ / @ + -" ;;
  /*) [ -d "$DK_ROOT" ] || dk_die "--root $DK_ROOT is not a directory" ;;
  *) dk_die "--root must be an absolute path" ;;
esac
[ -n "$DK_KEYS_DIR" ] || DK_KEYS_DIR=$DK_ROOT/run/secrets/deploy-keys

DK_SSH_DIR=$DK_ROOT$DK_HOME/.ssh
DK_CONFIG=$DK_SSH_DIR/config
DK_KH=$DK_SSH_DIR/deploy-keys_known_hosts
DK_MANIFEST=$DK_SSH_DIR/.deploy-keys-managed
DK_GITCONFIG=$DK_ROOT$DK_HOME/.gitconfig
# Root's git runs with any HOME (sudo, systemd services, nix-daemon clients)
# and reads the system file whatever HOME is; another user's HOME is reliable.
if [ "$DK_USER" = root ]; then DK_GIT_SSH_CONFIG=/etc/gitconfig; else DK_GIT_SSH_CONFIG=$DK_HOME/.gitconfig; fi

if [ "$DK_STAGE" = 1 ]; then
  # Files made by another user are never the installed user's: staging only
  # makes sense into a tree that is copied elsewhere.
  [ -n "$DK_ROOT" ] || dk_die "--stage needs --root"
  DK_CLONE=0
else
  dk_me=$(id -un) || dk_die "cannot tell which user runs this script"
  [ "$dk_me" = "$DK_USER" ] || dk_die "this script installs keys for $DK_USER and must run as $DK_USER, not $dk_me (e.g. runuser -u $DK_USER -- sh SCRIPT)"
fi

# ---- helpers (builtins only: a run with nothing to do forks almost nothing) ----

# dk_tmp_write FILE CONTENT: DK_TMP := a new temp file beside FILE (same
# directory, so the final mv is a rename) holding exactly CONTENT. Its name
# ends in .dk-tmp.<pid of this shell>: dk_sweep_tmp finds those of killed runs.
dk_tmp_write() {
  DK_TMP=${1%/*}/.${1##*/}.dk-tmp.$$
  rm -f -- "$DK_TMP" && printf '%s' "$2" >"$DK_TMP"
}
# dk_tmp_drop: removes the pending temp file, if any (also run on exit).
dk_tmp_drop() {
  if [ -n "$DK_TMP" ]; then rm -f -- "$DK_TMP"; fi
  DK_TMP=''
}
trap dk_tmp_drop EXIT
trap 'exit 130' INT TERM HUP

# dk_no_link PATH: no directory between --root and PATH, nor PATH itself, is
# a symlink: what the script writes under --root stays under it (a link
# such as ROOT/root -> /elsewhere would send keys and clones there). On
# failure DK_LINK is the symlink. Always true without --root.
dk_no_link() {
  DK_LINK=''
  [ -n "$DK_ROOT" ] || return 0
  dk_nl_rest=${1#"$DK_ROOT"}
  dk_nl_cur=$DK_ROOT
  while [ -n "$dk_nl_rest" ]; do
    dk_nl_rest=${dk_nl_rest#/}
    dk_nl_c=${dk_nl_rest%%/*}
    dk_nl_rest=${dk_nl_rest#"$dk_nl_c"}
    [ -n "$dk_nl_c" ] || continue
    dk_nl_cur=$dk_nl_cur/$dk_nl_c
    if [ -L "$dk_nl_cur" ]; then DK_LINK=$dk_nl_cur; return 1; fi
    # Whatever does not exist yet is created as a directory, not followed.
    [ -e "$dk_nl_cur" ] || return 0
  done
}

# dk_read FILE: DK_R := the file's exact content. Fails if FILE is not a readable regular file.
dk_read() {
  DK_R=''
  [ -f "$1" ] && [ -r "$1" ] || return 1
  dk_l=''
  while IFS= read -r dk_l; do DK_R=$DK_R$dk_l$DK_NL; done <"$1" || return 1
  DK_R=$DK_R$dk_l
}

# dk_repo_index NAME: DK_I := the position of NAME among the configured repos.
dk_repo_index() {
  DK_I=0
  dk_want=$1
  dk_found=0
  dk_repos dk__index
  [ "$dk_found" != 0 ] || return 1
  DK_I=$dk_found
}
dk__index() {
  dk_repo=$1
  DK_I=$((DK_I + 1))
  [ "$dk_repo" != "$dk_want" ] || dk_found=$DK_I
}

# dk_check_pem TEXT: one unencrypted PEM private key block, TEXT ending in a
# newline. On failure DK_ERR says why; it never quotes the key.
dk_check_pem() {
  dk_rest=$1
  dk_n=0
  dk_label=''
  DK_ERR=''
  while [ -n "$dk_rest" ]; do
    dk_line=${dk_rest%%"$DK_NL"*}
    dk_rest=${dk_rest#*"$DK_NL"}
    dk_n=$((dk_n + 1))
    if [ "$dk_n" = 1 ]; then
      case $dk_line in
        *ENCRYPTED*) DK_ERR='is passphrase-protected (deploy keys must not be)'; return 1 ;;
        '-----BEGIN '*'PRIVATE KEY-----') dk_label=${dk_line#-----BEGIN }; dk_label=${dk_label%-----} ;;
        *) DK_ERR='does not start with a "-----BEGIN ... PRIVATE KEY-----" line'; return 1 ;;
      esac
      continue
    fi
    if [ "$dk_line" = "-----END $dk_label-----" ]; then
      [ -z "$dk_rest" ] || { DK_ERR='has data after its END line'; return 1; }
      [ "$dk_n" -gt 2 ] || { DK_ERR='is empty'; return 1; }
      return 0
    fi
    case $dk_line in
      '' | *[!A-Za-z0-9+/=]*) DK_ERR="has a malformed line $dk_n (not base64; a header, a CR or a missing END line?)"; return 1 ;;
    esac
    [ "$dk_n" -le 200 ] || { DK_ERR='is too long'; return 1; }
  done
  DK_ERR="has no \"-----END $dk_label-----\" line"
  return 1
}

# dk_set_key INDEX TEXT / dk_get_key INDEX: keys live in shell variables only
# (no temp file, no argv) until they are written into ~/.ssh.
dk_set_key() { eval "DK_KEY_$1=\$2"; }
dk_get_key() { eval "DK_K=\${DK_KEY_$1-}"; }
dk_set_err() { eval "DK_KERR_$1=\$2"; }
dk_get_err() { eval "DK_E=\${DK_KERR_$1-}"; }

dk_load_from_dir() {
  DK_I=0
  dk_repos dk__load_one
}
dk__load_one() {
  dk_repo=$1
  DK_I=$((DK_I + 1))
  dk_f=$DK_KEYS_DIR/$dk_repo
  if ! dk_read "$dk_f"; then
    dk_set_err "$DK_I" "no key at $dk_f"
    return 0
  fi
  case $DK_R in '' | *"$DK_NL") ;; *) DK_R=$DK_R$DK_NL ;; esac
  if dk_check_pem "$DK_R"; then
    dk_set_key "$DK_I" "$DK_R"
  else
    dk_set_err "$DK_I" "the key in $dk_f $DK_ERR"
  fi
}

dk_load_from_stdin() {
  IFS= read -r dk_l || dk_die "--keys-stdin: no input"
  [ "$dk_l" = "$DK_STREAM_HEADER" ] || dk_die "--keys-stdin: input does not start with '$DK_STREAM_HEADER'"
  dk_seen=' '
  while :; do
    IFS= read -r dk_l || dk_die "--keys-stdin: the stream ended before its 'end' line (truncated?); nothing was written"
    case $dk_l in
      end) break ;;
      'key '*) ;;
      *) dk_die "--keys-stdin: expected 'key <repo>' or 'end' (line not shown)" ;;
    esac
    dk_name=${dk_l#key }
    dk_repo_index "$dk_name" || dk_die "--keys-stdin: repo '$dk_name' is not configured for host $DK_HOST"
    case $dk_seen in *" $dk_name "*) dk_die "--keys-stdin: repo '$dk_name' appears twice" ;; esac
    dk_seen="$dk_seen$dk_name "
    dk_buf=''
    dk_n=0
    while :; do
      IFS= read -r dk_l || dk_die "--keys-stdin: the stream ended inside the key for '$dk_name'; nothing was written"
      dk_buf=$dk_buf$dk_l$DK_NL
      dk_n=$((dk_n + 1))
      case $dk_l in -----END*) break ;; esac
      [ "$dk_n" -le 200 ] || dk_die "--keys-stdin: the key for '$dk_name' has no END line"
    done
    if dk_check_pem "$dk_buf"; then
      dk_set_key "$DK_I" "$dk_buf"
    else
      dk_set_err "$DK_I" "the key given on standard input $DK_ERR"
    fi
  done
  dk_buf=''
  DK_I=0
  dk_repos dk__stdin_missing
}
dk__stdin_missing() {
  dk_repo=$1
  DK_I=$((DK_I + 1))
  case $dk_seen in *" $dk_repo "*) ;; *) dk_set_err "$DK_I" "no key for it on standard input" ;; esac
}

# dk_ours FILE: FILE is a regular file (not a symlink) owned by the user this
# script runs as. A file someone else left behind (while ~/.ssh was writable)
# is never kept, even with the right content: its owner could still rewrite it.
dk_ours() { [ ! -L "$1" ] && [ -f "$1" ] && [ -O "$1" ]; }

# dk_put FILE MODE CONTENT WHAT: replace FILE atomically (temp file in the same
# directory, then rename) unless it already holds exactly CONTENT.
dk_put() {
  # Also a symlink to a directory: mv would move the temp file into it.
  if [ -d "$1" ]; then
    dk_warn "$1 is a directory (or a symlink to one); not replacing it"
    return 1
  fi
  if dk_ours "$1" && dk_read "$1" && [ "$DK_R" = "$3" ]; then return 0; fi
  # The umask gives 600; any other mode needs a chmod.
  if ! dk_tmp_write "$1" "$3" ||
    { [ "$2" != 600 ] && ! chmod "$2" "$DK_TMP"; } ||
    ! mv -f -- "$DK_TMP" "$1"; then
    dk_tmp_drop
    dk_warn "could not write $1"
    return 1
  fi
  DK_TMP=''
  dk_change "wrote $4"
}

# ---- ~/.ssh ----

dk_prepare_ssh_dir() {
  if [ -L "$DK_SSH_DIR" ]; then
    dk_fail ssh-dir "$DK_SSH_DIR is a symlink; refusing to write keys through it"
    return 1
  fi
  if ! dk_no_link "$DK_SSH_DIR"; then
    dk_fail ssh-dir "$DK_LINK is a symlink under --root $DK_ROOT; refusing to write keys through it"
    return 1
  fi
  if [ ! -d "$DK_SSH_DIR" ]; then
    mkdir -p -- "$DK_SSH_DIR" || { dk_fail ssh-dir "cannot create $DK_SSH_DIR"; return 1; }
    dk_change "created $DK_HOME/.ssh"
  fi
  if [ ! -O "$DK_SSH_DIR" ]; then
    dk_fail ssh-dir "$DK_SSH_DIR is not owned by $DK_USER (sops-nix 'path =' creates it as root); chown it to $DK_USER"
    return 1
  fi
  # chmod changes no content and no mtime; it repairs a loosened mode.
  chmod go= -- "$DK_SSH_DIR" || { dk_fail ssh-dir "cannot chmod $DK_SSH_DIR"; return 1; }
  dk_sweep_tmp
}

# dk_sweep_tmp: removes temp files a killed run left in ~/.ssh (a SIGKILL runs
# no trap; one may hold a private key): exactly dk_tmp_write's names, regular
# files of this user, whose shell is gone (kill -0 fails).
dk_sweep_tmp() {
  for dk_f in "$DK_SSH_DIR"/.*.dk-tmp.*; do
    dk_pid=${dk_f##*.dk-tmp.}
    case $dk_pid in '' | 0* | *[!0-9]*) continue ;; esac
    if [ "$dk_pid" = "$$" ] || ! dk_ours "$dk_f" || kill -0 "$dk_pid" 2>/dev/null; then continue; fi
    rm -f -- "$dk_f" && dk_change "removed ${dk_f#"$DK_ROOT"} (left by an interrupted run)"
  done
}

# ---- keys ----

dk_install_keys() {
  DK_I=0
  DK_UNCHANGED=''
  dk_repos dk__install_key
  # One chmod for every unchanged key (a no-op run starts a constant number of
  # processes, whatever the number of repos). It changes no content and no
  # mtime; it repairs a loosened mode, which makes ssh ignore a key.
  [ -n "$DK_UNCHANGED" ] || return 0
  set --
  for dk_name in $DK_UNCHANGED; do set -- "$@" "$DK_SSH_DIR/$dk_name-deploy"; done
  chmod 600 -- "$@" || dk_fail keys "cannot chmod 600 the keys in $DK_SSH_DIR ($DK_UNCHANGED)"
}
dk__install_key() {
  dk_repo=$1 dk_pubkey=$5
  DK_I=$((DK_I + 1))
  dk_get_key "$DK_I"
  dk_get_err "$DK_I"
  if [ -z "$DK_K" ]; then
    if [ -f "$DK_SSH_DIR/$dk_repo-deploy" ]; then
      dk_fail "$dk_repo" "$DK_E; keeping the installed key"
    else
      dk_fail "$dk_repo" "$DK_E"
    fi
    return 0
  fi
  dk_key=$DK_SSH_DIR/$dk_repo-deploy
  dk_pub=$dk_key.pub
  dk_want_pub=''
  [ -z "$dk_pubkey" ] || dk_want_pub=$dk_pubkey$DK_NL
  # Unchanged key and public key: nothing to check or write; its mode is
  # repaired with the others' (dk_install_keys).
  if dk_ours "$dk_key" && dk_read "$dk_key" && [ "$DK_R" = "$DK_K" ] &&
    dk_ours "$dk_pub" && dk_read "$dk_pub" && { [ -z "$dk_want_pub" ] || [ "$DK_R" = "$dk_want_pub" ]; }; then
    DK_OWNED_KEYS="$DK_OWNED_KEYS$dk_repo "
    DK_UNCHANGED="$DK_UNCHANGED$dk_repo "
    return 0
  fi
  if [ -d "$dk_key" ] || [ -d "$dk_pub" ]; then
    dk_fail "$dk_repo" "$dk_key or its .pub is a directory; not replacing it"
    return 0
  fi
  if ! dk_tmp_write "$dk_key" "$DK_K"; then
    dk_tmp_drop
    dk_fail "$dk_repo" "cannot write into $DK_SSH_DIR"
    return 0
  fi
  # -P '': never prompt; stdin is closed by now.
  if ! dk_derived=$(ssh-keygen -y -P '' -f "$DK_TMP" 2>/dev/null); then
    dk_tmp_drop
    dk_fail "$dk_repo" "the new key is not a valid unencrypted private key (ssh-keygen cannot read it); the installed files are unchanged"
    return 0
  fi
  dk_d_type=${dk_derived%% *}
  dk_d_blob=${dk_derived#* }
  dk_d_blob=${dk_d_blob%% *}
  if [ -n "$dk_pubkey" ]; then
    dk_w_type=${dk_pubkey%% *}
    dk_w_blob=${dk_pubkey#* }
    dk_w_blob=${dk_w_blob%% *}
    if [ "$dk_d_type" != "$dk_w_type" ] || [ "$dk_d_blob" != "$dk_w_blob" ]; then
      dk_tmp_drop
      dk_fail "$dk_repo" "the new key does not match the expected public key ($dk_w_type ...${dk_w_blob#"${dk_w_blob%????????????}"}): corrupted or from another host; the installed files are unchanged"
      return 0
    fi
  else
    dk_want_pub="$dk_d_type $dk_d_blob $DK_HOST-$dk_repo-deploy$DK_NL"
  fi
  if dk_ours "$dk_key" && dk_read "$dk_key" && [ "$DK_R" = "$DK_K" ] && chmod 600 -- "$dk_key"; then
    dk_tmp_drop
  elif mv -f -- "$DK_TMP" "$dk_key"; then
    DK_TMP=''
    dk_change "installed $DK_HOME/.ssh/$dk_repo-deploy"
  else
    dk_tmp_drop
    dk_fail "$dk_repo" "cannot install $dk_key"
    return 0
  fi
  DK_OWNED_KEYS="$DK_OWNED_KEYS$dk_repo "
  dk_put "$dk_pub" 644 "$dk_want_pub" "$DK_HOME/.ssh/$dk_repo-deploy.pub" || dk_fail "$dk_repo" "cannot write $dk_pub"
}

# Manifest lines: "key <repo>", "insteadof <base> <value>", "git-ssh wrapper"
# and "git-ssh config <file>".
dk_read_manifest() {
  DK_OLD_KEYS=' '
  DK_OLD_RULES=''
  DK_OLD_GS_WRAPPER=0
  DK_OLD_GS_CONFIG=0
  # Only our own manifest says what may be removed: not one read through a symlink.
  if [ -L "$DK_MANIFEST" ] || { [ -e "$DK_MANIFEST" ] && [ ! -O "$DK_MANIFEST" ]; }; then
    dk_warn "ignoring $DK_MANIFEST: a symlink or not owned by $DK_USER (it is rewritten)"
    return 0
  fi
  dk_read "$DK_MANIFEST" || return 0
  dk_rest=$DK_R
  while [ -n "$dk_rest" ]; do
    dk_line=${dk_rest%%"$DK_NL"*}
    case $dk_rest in *"$DK_NL"*) dk_rest=${dk_rest#*"$DK_NL"} ;; *) dk_rest='' ;; esac
    case $dk_line in
      'key '*)
        dk_name=${dk_line#key }
        case $dk_name in '' | .* | *..* | */* | *[!a-z0-9._-]*) dk_warn "ignoring a bad manifest line" ;; *) DK_OLD_KEYS="$DK_OLD_KEYS$dk_name " ;; esac
        ;;
      'insteadof '*) DK_OLD_RULES=$DK_OLD_RULES${dk_line#insteadof }$DK_NL ;;
      'git-ssh wrapper') DK_OLD_GS_WRAPPER=1 ;;
      # Only the file this script would write for this user counts.
      "git-ssh config $DK_GIT_SSH_CONFIG") DK_OLD_GS_CONFIG=1 ;;
    esac
  done
}

dk_remove_stale_keys() {
  for dk_name in $DK_OLD_KEYS; do
    dk_is_configured "$dk_name" && continue
    for dk_f in "$DK_SSH_DIR/$dk_name-deploy" "$DK_SSH_DIR/$dk_name-deploy.pub"; do
      # Only regular files: this script never writes symlinks.
      if [ -f "$dk_f" ] && [ ! -L "$dk_f" ]; then
        rm -f -- "$dk_f" && dk_change "removed ${dk_f#"$DK_ROOT"} (repo $dk_name is no longer configured)"
      fi
    done
  done
}
dk_is_configured() { dk_repo_index "$1"; }

# ---- ~/.ssh/config block ----

dk_update_config() {
  if [ -L "$DK_CONFIG" ]; then
    dk_fail ssh-config "$DK_CONFIG is a symlink (managed elsewhere, e.g. home-manager?); add the aliases there or replace it by a file"
    return 0
  fi
  DK_R=''
  if [ -e "$DK_CONFIG" ] && ! dk_read "$DK_CONFIG"; then
    dk_fail ssh-config "cannot read $DK_CONFIG"
    return 0
  fi
  dk_old=$DK_R
  dk_rest=$DK_R
  dk_new=''
  dk_found=0
  dk_in=0
  while [ -n "$dk_rest" ]; do
    case $dk_rest in
      *"$DK_NL"*) dk_line=${dk_rest%%"$DK_NL"*}; dk_rest=${dk_rest#*"$DK_NL"}; dk_term=$DK_NL ;;
      *) dk_line=$dk_rest; dk_rest=''; dk_term='' ;;
    esac
    if [ "$dk_in" = 1 ]; then
      case $dk_line in
        "$DK_END"*) dk_in=0 ;;
        "$DK_BEGIN"*) dk_fail ssh-config "$DK_CONFIG has a nested '$DK_BEGIN' line; fix it by hand"; return 0 ;;
      esac
      continue
    fi
    case $dk_line in
      "$DK_BEGIN"*)
        [ "$dk_found" = 0 ] || { dk_fail ssh-config "$DK_CONFIG has two deploy-keys blocks; remove one by hand"; return 0; }
        dk_found=1
        dk_in=1
        dk_new=$dk_new$DK_SSH_BLOCK
        ;;
      "$DK_END"*) dk_fail ssh-config "$DK_CONFIG has an '$DK_END' line without its BEGIN line; fix it by hand"; return 0 ;;
      *) dk_new=$dk_new$dk_line$dk_term ;;
    esac
  done
  [ "$dk_in" = 0 ] || { dk_fail ssh-config "$DK_CONFIG has a '$DK_BEGIN' line without its END line; fix it by hand"; return 0; }
  # ssh takes the first value it finds: a new block goes first.
  [ "$dk_found" = 1 ] || dk_new=$DK_SSH_BLOCK$dk_old
  if [ "$dk_new" = "$dk_old" ] && dk_ours "$DK_CONFIG"; then return 0; fi
  dk_put "$DK_CONFIG" 600 "$dk_new" "$DK_HOME/.ssh/config (deploy-keys block)" || dk_fail ssh-config "cannot write $DK_CONFIG"
}

# ---- git insteadOf rules ----

dk_update_gitconfig() {
  DK_NEW_RULES=''
  dk_want_rules=''
  [ "$DK_INSTEADOF" = 1 ] && dk_insteadof_rules dk__want_rule
  # Nothing wanted and nothing of ours recorded: do not even look.
  [ -n "$dk_want_rules$DK_OLD_RULES" ] || return 0
  if [ -L "$DK_GITCONFIG" ]; then
    dk_fail insteadof "$DK_GITCONFIG is a symlink (managed elsewhere?); not editing it"
    DK_NEW_RULES=$DK_OLD_RULES
    return 0
  fi
  dk_cur=''
  if [ -f "$DK_GITCONFIG" ]; then
    dk_cur=$(git config --file "$DK_GITCONFIG" --get-regexp '^url\..*\.insteadof$' 2>/dev/null) || dk_cur=''
  fi
  dk_cur=$DK_NL$dk_cur$DK_NL
  # Remove rules we wrote earlier that are no longer wanted.
  dk_rest=$DK_OLD_RULES
  [ "$DK_OLD_RULES" != "$dk_want_rules" ] || dk_rest=''
  while [ -n "$dk_rest" ]; do
    dk_line=${dk_rest%%"$DK_NL"*}
    dk_rest=${dk_rest#*"$DK_NL"}
    case $dk_want_rules in *"$DK_NL$dk_line$DK_NL"* | "$dk_line$DK_NL"*) continue ;; esac
    dk_base=${dk_line%% *}
    dk_val=${dk_line#* }
    case $dk_cur in *"${DK_NL}url.$dk_base.insteadof $dk_val$DK_NL"*) ;; *) continue ;; esac
    if git config --file "$DK_GITCONFIG" --fixed-value --unset "url.$dk_base.insteadOf" "$dk_val"; then
      dk_change "removed git rule url.$dk_base.insteadOf $dk_val"
    else
      dk_fail insteadof "cannot remove url.$dk_base.insteadOf from $DK_GITCONFIG"
      DK_NEW_RULES=$DK_NEW_RULES$dk_line$DK_NL
    fi
  done
  [ "$DK_INSTEADOF" = 1 ] && dk_insteadof_rules dk__add_rule
  return 0
}
dk__want_rule() {
  dk_rule_base=$1 dk_rule_value=$2
  dk_want_rules=$dk_want_rules$dk_rule_base' '$dk_rule_value$DK_NL
}
dk__add_rule() {
  dk_rule_base=$1 dk_rule_value=$2
  case $dk_cur in
    *"${DK_NL}url.$dk_rule_base.insteadof $dk_rule_value$DK_NL"*)
      # Present: ours if we recorded it, else the user's own (left alone, not recorded).
      case $DK_NL$DK_OLD_RULES in
        *"$DK_NL$dk_rule_base $dk_rule_value$DK_NL"*) DK_NEW_RULES=$DK_NEW_RULES$dk_rule_base' '$dk_rule_value$DK_NL ;;
      esac
      return 0
      ;;
  esac
  if git config --file "$DK_GITCONFIG" --add "url.$dk_rule_base.insteadOf" "$dk_rule_value"; then
    DK_NEW_RULES=$DK_NEW_RULES$dk_rule_base' '$dk_rule_value$DK_NL
    dk_change "added git rule url.$dk_rule_base.insteadOf $dk_rule_value"
  else
    dk_fail insteadof "cannot write url.$dk_rule_base.insteadOf to $DK_GITCONFIG"
  fi
}

# ---- git's ssh command ----

# DK_GS_WRAPPER / DK_GS_CONFIG: the wrapper file / the core.sshCommand entry
# are ours (manifest). A step that fails keeps the old record.
dk_update_git_ssh() {
  DK_GS_WRAPPER=$DK_OLD_GS_WRAPPER
  DK_GS_CONFIG=$DK_OLD_GS_CONFIG
  dk_gs=$DK_ROOT$DK_GIT_SSH_FILE
  if [ "$DK_GIT_SSH" = 1 ]; then
    if ! dk_put "$dk_gs" 700 "$DK_GIT_SSH_SCRIPT" "$DK_GIT_SSH_FILE"; then
      dk_fail git-ssh "cannot write $dk_gs"
      return 0
    fi
    DK_GS_WRAPPER=1
    # The guard in core.sshCommand runs it only when it is executable.
    [ -x "$dk_gs" ] || chmod 700 -- "$dk_gs" || { dk_fail git-ssh "cannot chmod $dk_gs"; return 0; }
    dk_git_ssh_config_set
  else
    dk_git_ssh_config_unset
    if [ "$DK_OLD_GS_WRAPPER" = 1 ] && [ -f "$dk_gs" ] && [ ! -L "$dk_gs" ]; then
      rm -f -- "$dk_gs" || { dk_fail git-ssh "cannot remove $dk_gs"; return 0; }
      dk_change "removed $DK_GIT_SSH_FILE"
    fi
    DK_GS_WRAPPER=0
  fi
}

# dk_git_ssh_get FILE: DK_V := core.sshCommand in FILE ('' when unset or no file).
dk_git_ssh_get() {
  DK_V=''
  [ -e "$1" ] || return 0
  dk_rc=0
  DK_V=$(git config --file "$1" --get core.sshCommand) || dk_rc=$?
  # 1: not set; anything else: unreadable or malformed.
  [ "$dk_rc" -le 1 ]
}

dk_git_ssh_config_set() {
  dk_gc=$DK_ROOT$DK_GIT_SSH_CONFIG
  dk_no_link "${dk_gc%/*}" || { dk_fail git-ssh "$DK_LINK is a symlink under --root $DK_ROOT; not writing through it"; return 0; }
  command -v git >/dev/null 2>&1 || { dk_fail git-ssh "git is not installed (needed to set core.sshCommand in $DK_GIT_SSH_CONFIG)"; return 0; }
  dk_git_ssh_get "$dk_gc" || { dk_fail git-ssh "cannot read $dk_gc"; return 0; }
  [ "$DK_V" != "$DK_GIT_SSH_COMMAND" ] || return 0
  if [ -n "$DK_V" ] && [ "$DK_OLD_GS_CONFIG" = 0 ]; then
    dk_fail git-ssh "$DK_GIT_SSH_CONFIG already sets core.sshCommand to something else; remove it, or run with --no-git-ssh and point git's ssh at the deploy keys yourself"
    return 0
  fi
  if [ -L "$dk_gc" ]; then
    dk_fail git-ssh "$DK_GIT_SSH_CONFIG is a symlink (managed elsewhere: NixOS programs.git.config, home-manager?); set core.sshCommand there to: $DK_GIT_SSH_COMMAND"
    return 0
  fi
  # Every user's git reads the system file: it stays world-readable.
  if (umask 022 && git config --file "$dk_gc" core.sshCommand "$DK_GIT_SSH_COMMAND"); then
    DK_GS_CONFIG=1
    dk_change "set core.sshCommand in $DK_GIT_SSH_CONFIG"
  else
    dk_fail git-ssh "cannot write core.sshCommand to $dk_gc"
  fi
}

dk_git_ssh_config_unset() {
  [ "$DK_OLD_GS_CONFIG" = 1 ] || return 0
  dk_gc=$DK_ROOT$DK_GIT_SSH_CONFIG
  DK_GS_CONFIG=0
  # Only a value this script wrote, in a file it may edit.
  { dk_no_link "$dk_gc" && [ -f "$dk_gc" ] && [ ! -L "$dk_gc" ] && dk_git_ssh_get "$dk_gc" && [ "$DK_V" = "$DK_GIT_SSH_COMMAND" ]; } || return 0
  if git config --file "$dk_gc" --unset core.sshCommand; then
    dk_change "removed core.sshCommand from $DK_GIT_SSH_CONFIG"
  else
    DK_GS_CONFIG=1
    dk_fail git-ssh "cannot remove core.sshCommand from $dk_gc"
  fi
}

dk_write_manifest() {
  dk_m='# nix-deploy-keys manifest v1: what the activation script owns here; do not edit'$DK_NL
  for dk_name in $DK_OWNED_KEYS; do dk_m=${dk_m}key' '$dk_name$DK_NL; done
  dk_rest=$DK_NEW_RULES
  while [ -n "$dk_rest" ]; do
    dk_m=${dk_m}insteadof' '${dk_rest%%"$DK_NL"*}$DK_NL
    dk_rest=${dk_rest#*"$DK_NL"}
  done
  [ "$DK_GS_WRAPPER" = 0 ] || dk_m="${dk_m}git-ssh wrapper$DK_NL"
  [ "$DK_GS_CONFIG" = 0 ] || dk_m="${dk_m}git-ssh config $DK_GIT_SSH_CONFIG$DK_NL"
  dk_put "$DK_MANIFEST" 600 "$dk_m" "$DK_HOME/.ssh/.deploy-keys-managed" || dk_fail manifest "cannot write $DK_MANIFEST"
}

# ---- clones ----

dk_clone_all() {
  command -v git >/dev/null 2>&1 || { dk_fail clone "git is not installed"; return 0; }
  dk_repos dk__clone_one
}
dk__clone_one() {
  dk_repo=$1 dk_url=$3 dk_dest=$4
  dk_dir=$DK_ROOT$dk_dest
  case " $DK_FAILED " in *" $dk_repo "*) dk_say "not cloning $dk_repo (its key failed)"; return 0 ;; esac
  [ -f "$DK_SSH_DIR/$dk_repo-deploy" ] || { dk_fail "$dk_repo" "no key installed; not cloning"; return 0; }
  dk_no_link "$dk_dir" || { dk_fail "$dk_repo" "$DK_LINK is a symlink under --root $DK_ROOT; not cloning or pulling through it"; return 0; }
  # The alias comes from our config file; the explicit options make --root
  # runs use the prefixed key and pins instead of the host's.
  dk_ssh="ssh -F '$DK_CONFIG' -o 'IdentityFile=$DK_SSH_DIR/$dk_repo-deploy' -o 'UserKnownHostsFile=$DK_KH' -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes"
  if [ -e "$dk_dir/.git" ]; then
    [ "$DK_PULL" = 1 ] || return 0
    dk_head=$(git -C "$dk_dir" rev-parse -q --verify HEAD 2>/dev/null) || dk_head=''
    if HOME=$DK_ROOT$DK_HOME GIT_SSH_COMMAND=$dk_ssh GIT_TERMINAL_PROMPT=0 git -C "$dk_dir" pull -q --ff-only; then
      if [ "$(git -C "$dk_dir" rev-parse -q --verify HEAD 2>/dev/null || :)" != "$dk_head" ]; then
        dk_change "fast-forwarded $dk_dest"
      fi
    else
      dk_fail "$dk_repo" "git pull --ff-only in $dk_dest failed"
    fi
    return 0
  fi
  if [ -e "$dk_dir" ] || [ -L "$dk_dir" ]; then
    if [ ! -d "$dk_dir" ] || [ -L "$dk_dir" ] || ! dk_empty_dir "$dk_dir"; then
      dk_fail "$dk_repo" "$dk_dest exists and is not a git checkout; leaving it alone"
      return 0
    fi
  fi
  if HOME=$DK_ROOT$DK_HOME GIT_SSH_COMMAND=$dk_ssh GIT_TERMINAL_PROMPT=0 git clone -q -- "$dk_url" "$dk_dir"; then
    dk_change "cloned $dk_repo into $dk_dest"
  else
    dk_fail "$dk_repo" "git clone $dk_url into $dk_dest failed"
  fi
}
dk_empty_dir() {
  for dk_f in "$1"/* "$1"/.[!.]* "$1"/..?*; do
    if [ -e "$dk_f" ] || [ -L "$dk_f" ]; then return 1; fi
  done
  return 0
}

# ---- main ----

if [ "$DK_KEYS_STDIN" = 1 ]; then
  dk_load_from_stdin
else
  dk_load_from_dir
fi
# Nothing below reads the key stream; ssh and git must not either.
exec </dev/null

DK_OWNED_KEYS=''
if dk_prepare_ssh_dir; then
  dk_read_manifest
  dk_install_keys
  dk_remove_stale_keys
  dk_put "$DK_KH" 644 "$DK_KNOWN_HOSTS" "$DK_HOME/.ssh/deploy-keys_known_hosts" || dk_fail known-hosts "cannot write $DK_KH"
  dk_update_config
  dk_update_gitconfig
  dk_update_git_ssh
  # Keep the keys of configured repos that failed this time on record.
  for dk_name in $DK_OLD_KEYS; do
    case " $DK_OWNED_KEYS " in *" $dk_name "*) continue ;; esac
    if dk_is_configured "$dk_name" && [ -f "$DK_SSH_DIR/$dk_name-deploy" ]; then DK_OWNED_KEYS="$DK_OWNED_KEYS$dk_name "; fi
  done
  dk_write_manifest
  [ "$DK_CLONE" = 0 ] || dk_clone_all
fi

if [ -n "$DK_FAILED" ]; then
  printf 'deploy-keys: FAILED:%s\n' "$DK_FAILED" >&2
  exit 1
fi
[ "$DK_CHANGED" = 1 ] || dk_say "no changes"
exit 0
# end of deploy-keys activation script
