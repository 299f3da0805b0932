# Pure helpers for the NixOS module: builtins only (no nixpkgs), so
# `nix-instantiate --eval` can test them without a channel.
#
# renderScript splices the SAME template as the TypeScript renderer
# (scripts/lib/activation/template.sh) with the same header and data section;
# test/nix/lib.test.ts checks the two renderers byte for byte on shared inputs.
let
  inherit (builtins)
    concatLists concatStringsSep elem elemAt filter foldl' genList head isString length
    lessThan map match replaceStrings sort split substring toString;

  lines = s: filter isString (split "\n" s);
  joinLines = ls: concatStringsSep "\n" ls;
  unique = foldl' (acc: x: if elem x acc then acc else acc ++ [ x ]) [ ];
  upper = [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ];
  lower = [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ];
  toLower = replaceStrings upper lower;
  hasInfix = infix: s: match ".*${escapeRegex infix}.*" s != null;
  escapeRegex = s: replaceStrings
    [ "\\" "." "*" "+" "?" "(" ")" "[" "]" "{" "}" "|" "^" "$" ]
    [ "\\\\" "[.]" "[*]" "[+]" "[?]" "[(]" "[)]" "[[]" "[]]" "[{]" "[}]" "[|]" "\\^" "[$]" ]
    s;

  githubHost = "github.com";
  # GitHub's published host keys (post-March-2023); same list as known-hosts.ts.
  githubKeys = [
    { type = "ssh-ed25519"; key = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"; }
    { type = "ecdsa-sha2-nistp256"; key = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEmKSENjQEezOmxkZMy7opKgwFB9nkt5YRrYMjNuG5N87uRgg6CLrbo5wAdT/y6v0mKV0U2w0WZ2YB/++Tpockg="; }
    { type = "ssh-rsa"; key = "AAAAB3NzaC1yc2EAAAADAQABAAABgQCj7ndNxQowgcQnjshcLrqPEiiphnt+VTTvDP6mHBL9j1aNUkY4Ue1gvwnGLVlOhGeYrnZaMgRK6+PKCUXaDbC7qtbW8gIkhL7aGCsOr/C56SJMy/BCZfxd1nWzAOxSDPgVsmerOBYfNqltV9/hWCqBywINIR+5dIg6JTJ72pcEpEjcYgXkE2YEFXV1JHnsKgbLWNlhScqb2UmyRkQyytRLtL+38TGxkxCflmO+5Z8CSSNY7GidjMIZ7Q4zMjA2n1nGrlTDkzwDCsw+wqFPGQA179cnfGWOWRVruj16z6XyvxvjJwbz0wQZ75XK5tKSb7FNyeIEs4TT4jk+S4dhPeAUC5y+bDYirYgM4GC7uEnztnZyaVWQ7B381AK4Qdrwt51ZqExKbQpTUNn+EjqoTwvqNj4kqx5QUCI0ThS/YkOxJCXmPUWZbhjpCg56i+2aB6CmK2JGhn57K5mj0MNdBXA4/WnwH6XoPWJzK5Nyu2zB3nAZp+S5hpQs+p1vN1/wsjk="; }
  ];
  gitlabHost = "gitlab.com";
  # GitLab.com's published host keys ("GitLab.com settings" > "SSH known_hosts entries"); same list as known-hosts.ts.
  gitlabKeys = [
    { type = "ssh-ed25519"; key = "AAAAC3NzaC1lZDI1NTE5AAAAIAfuCHKVTjquxvt6CM6tdG4SLp1Btn/nOeHHE5UOzRdf"; }
    { type = "ssh-rsa"; key = "AAAAB3NzaC1yc2EAAAADAQABAAABAQCsj2bNKTBSpIYDEGk9KxsGh3mySTRgMtXL583qmBpzeQ+jqCMRgBqB98u3z++J1sKlXHWfM9dyhSevkMwSbhoR8XIq/U0tCNyokEi/ueaBMCvbcTHhO7FcwzY92WK4Yt0aGROY5qX2UKSeOvuP4D6TPqKF1onrSzH9bx9XUf2lEdWT/ia1NEKjunUqu1xOB/StKDHMoX4/OKyIzuS0q/T1zOATthvasJFoPrAjkohTyaDUz2LN5JoH839hViyEG82yB+MjcFV5MU3N1l1QL3cVUCh93xSaua1N85qivl+siMkPGbO5xR/En4iEY6K2XPASUEMaieWVNTRCtJ4S8H+9"; }
    { type = "ecdsa-sha2-nistp256"; key = "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBFSMqzJeV9rUzU4kWitGjeR4PWSa29SPqJ1fVkhtj3Hw9xjLVXVYrU9QlYWrOLXBpQ6KWjbjTDTdDkoohFzgbEY="; }
  ];
  # Hosts whose keys are built in (port 22); no other key may be pinned for them.
  builtinHosts = [
    { host = githubHost; label = "GitHub's"; keys = githubKeys; }
    { host = gitlabHost; label = "GitLab.com's"; keys = gitlabKeys; }
  ];
  # GitHub's pre-2023 RSA host key (SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8):
  # Nix cannot hash a decoded blob, so it is refused by its base64 text.
  refusedKeys = [
    "AAAAB3NzaC1yc2EAAAABIwAAAQEAq2A7hRGmdnm9tUDbO9IDSwBK6TbQa+PXYPCPy6rbTrTtw7PHkccKrpp0yVhp5HdEIcKr6pLlVDBfOLX9QUsyCOV0wzfjIJNlGEYsdlLJizHhbn2mUjvSAHQqZETYP81eFzLQNnPHt4EVVUh7VfDESU84KezmD5QlWpXLmvU31/yMf+Se8xhHTvKSCZIFImWwoG6mbUoWf9nzpIoaSjB+weqqUUmpaaasXVal72J+UX2B+2RPW3RcT0eOzQgqlJL3RKrTJvdsjE3JEAvGq3lGHSZXy28G3skua2SmVi/w4yCE6gbODqnTWlg7+wC604ydGXA8VJiS5ap43JXiUFFAaQ=="
  ];
  keyTypeRe = "ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|sk-ssh-ed25519@openssh\\.com";

  repoNameRe = "[a-z0-9][a-z0-9._-]*";
  userRe = "[a-z_][a-z0-9_-]{0,31}";
  safePathRe = "/[A-Za-z0-9._/@+-]*";
  urlUserRe = "[A-Za-z_][A-Za-z0-9_.-]{0,31}";
  hostRe = "[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?";
  ipv6Re = "[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*";
  urlPathRe = "/?[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*/?";
in
rec {
  inherit githubHost githubKeys gitlabHost gitlabKeys refusedKeys;

  # { user, host, port, path, raw } or a problem string; mirrors scripts/lib/config/repo-url.ts.
  parseUrl = raw:
    let
      ssh = match "ssh://([^@/]+)@([[][0-9A-Fa-f:.]+[]]|[^:/]+)(:([0-9]+))?(/.*)" raw;
      scp = match "([^@:/]+)@([^:/]+):(.+)" raw;
      parts =
        if ssh != null then {
          user = elemAt ssh 0;
          host = toLower (let h = elemAt ssh 1; m = match "[[](.*)[]]" h; in if m == null then h else head m);
          port = if elemAt ssh 3 == null then 22 else builtins.fromJSON (elemAt ssh 3);
          path = elemAt ssh 4;
        } else if scp != null then {
          user = elemAt scp 0;
          host = toLower (elemAt scp 1);
          port = 22;
          path = elemAt scp 2;
        } else null;
      segments = filter (s: s != "") (lines (replaceStrings [ "/" ] [ "\n" ] parts.path));
    in
    if parts == null then "is neither user@host:owner/repo.git nor ssh://user@host[:port]/path"
    else if match urlUserRe parts.user == null then "has an invalid user"
    else if match hostRe parts.host == null && match ipv6Re parts.host == null then "has an invalid host"
    else if parts.port < 1 || parts.port > 65535 then "has an invalid port"
    else if match urlPathRe parts.path == null || elem ".." segments || elem "." segments then "has an invalid path"
    else if length segments < 2 then "path must name owner/repo"
    else parts // { inherit raw; };

  # Lowercase, as ssh looks names up (hosts from parseUrl already are).
  knownHostsName = host: port: let h = toLower host; in if port == 22 then h else "[${h}]:${toString port}";

  alias = name: url: "${replaceStrings [ ":" ] [ "_" ] url.host}-${name}";

  # The git URL clones use: scp-like through the alias.
  aliasUrl = name: url: "${alias name url}:${url.path}";

  sshDir = home: "${if home == "/" then "" else home}/.ssh";

  # git's ssh command for the deploy keys; same as git-ssh.ts.
  gitSshPath = home: "${sshDir home}/deploy-keys-git-ssh";
  # The core.sshCommand value (git runs it as `sh -c '<value> "$@"'`): the
  # wrapper for its owner, plain ssh for anyone who cannot execute it.
  gitSshCommand = home: "f=${gitSshPath home}; [ -x \"$f\" ] || f=ssh; exec \"$f\"";

  # A path as the wrapper compares it: no leading/trailing slashes, no .git.
  repoPathKey = p:
    let
      noLead = head (match "/*(.*)" p);
      noTrail = let m = match "(.*[^/])/*" noLead; in if m == null then "" else head m;
      m = match "(.*)\\.git" noTrail;
    in
    if m == null then noTrail else head m;
  repoKey = u: "${u.host} ${toString u.port} ${repoPathKey u.path}";

  gitSshHeader = { host, user, ... }: joinLines [
    "# deploy-keys git ssh command for host ${host}, user ${user}."
    "# Generated by nix-deploy-keys from deploy-keys.yaml and rewritten by the activation script."
  ] + "\n";

  gitSshData = { home, repos, ... }:
    let
      line = r: "    ${shQuote (repoKey r.url)}) DK_ALIAS=${shQuote (alias r.name r.url)} DK_USER=${shQuote r.url.user} DK_KEY=${shQuote "${sshDir home}/${r.name}-deploy"} ;;";
    in
    joinLines ([
      "# ---- repos of this host (rendered) ----"
      "# dk_repo HOST PORT PATH: sets DK_ALIAS, DK_USER and DK_KEY of the managed repo"
      "# at HOST:PORT/PATH (PATH in key form), or returns 1."
      "dk_repo() {"
      "  case \"$1 $2 $3\" in"
    ] ++ map line repos ++ [
      "    *) return 1 ;;"
      "  esac"
      "}"
      ""
    ]);

  # The wrapper script text for a parsed description.
  gitSshScript = template: d: replaceStrings [ "# @HEADER@\n" "# @DATA@\n" ] [ (gitSshHeader d) (gitSshData d) ] template;

  # One `Host` stanza per repo between markers; same text as ssh-config-block.ts.
  sshBlock = repos: home:
    let
      d = sshDir home;
      stanza = r: [
        "Host ${alias r.name r.url}"
        "  HostName ${r.url.host}"
      ] ++ (if r.url.port == 22 then [ ] else [ "  Port ${toString r.url.port}" ]) ++ [
        "  User ${r.url.user}"
        "  IdentityFile ${d}/${r.name}-deploy"
        "  IdentitiesOnly yes"
        "  StrictHostKeyChecking yes"
        "  UserKnownHostsFile ${d}/deploy-keys_known_hosts"
        "  GlobalKnownHostsFile /dev/null"
        "  VerifyHostKeyDNS no"
        "  UpdateHostKeys no"
        "  BatchMode yes"
        "  ForwardAgent no"
      ];
    in
    joinLines ([ "# BEGIN nix-deploy-keys (managed by the deploy-keys activation script; edits inside are overwritten)" ]
      ++ concatLists (map stanza repos) ++ [ "Host *" "# END nix-deploy-keys" ]) + "\n";

  # url.<base>.insteadOf rules; same as insteadOfRules() in ssh-config-block.ts.
  insteadOfRules = r:
    let
      u = r.url;
      noSlash = let m = match "(.*[^/])/*" u.path; in if m == null then u.path else head m;
      p = let m = match "(.*)\\.git" noSlash; in if m == null then noSlash else head m;
      abs = if substring 0 1 p == "/" then p else "/${p}";
      v6 = hasInfix ":" u.host;
      hostPart = if v6 then "[${u.host}]" else u.host;
      ipv4 = match "[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+" u.host != null;
      forms =
        (if u.port == 22 && !v6 then [ "${u.user}@${u.host}:${p}" ] else [ ])
        ++ [ "ssh://${u.user}@${hostPart}${if u.port == 22 then "" else ":${toString u.port}"}${abs}" ]
        ++ (if u.port == 22 && !v6 && !ipv4 then [ "https://${u.host}${abs}" ] else [ ]);
      base = "${alias r.name u}:${p}";
    in
    map (value: { inherit base value; }) forms
    ++ map (value: { base = "${base}.git"; value = "${value}.git"; }) forms;

  # A configured known_hosts line, split (names lowercased); null when malformed.
  parseKnownHostsLine = line:
    let m = match "[[:space:]]*([^[:space:]]+)[[:space:]]+(${keyTypeRe})[[:space:]]+([A-Za-z0-9+/]+=*)[[:space:]]*" line;
    in if m == null then null else {
      names = map toLower (lines (replaceStrings [ "," ] [ "\n" ] (elemAt m 0)));
      type = elemAt m 1;
      key = elemAt m 3;
    };

  # A plain known_hosts name: `host` or `[host]:port` (no hash, wildcard, negation or marker).
  plainKnownHostsName = n:
    let
      b = match "[[]([^]]+)[]]:([0-9]{1,5})" n;
      h = if b == null then n else elemAt b 0;
      port = if b == null then 22 else builtins.fromJSON (elemAt b 1);
    in
    (match hostRe h != null || match ipv6Re h != null) && port >= 1 && port <= 65535;

  # The problem with one configured known_hosts line (number i), or null.
  knownHostsLineProblem = i: line:
    let
      l = parseKnownHostsLine line;
      where = "known_hosts[${toString i}]";
      foreign = filter (b: (elem b.host l.names || elem "[${b.host}]:22" l.names) && !(elem { inherit (l) type key; } b.keys)) builtinHosts;
    in
    if l == null then "${where} is not a known_hosts line \"HOST TYPE BASE64\""
    else if !(builtins.all plainKnownHostsName l.names) then "${where} has a name that is not a plain host or [host]:port (hashed |1|..., wildcard, negated or marker names are refused); write each name in clear"
    else if elem l.key refusedKeys then "${where} pins GitHub's pre-2023 RSA host key (its private half leaked); remove it"
    else if foreign != [ ] then let b = head foreign; in "${where} pins a key for ${b.host} that is not one of ${b.label} published host keys; remove it (they are built in)"
    else null;

  # Pinned keys for one endpoint: `host` pins port 22 only, `[host]:port` that
  # port only; names compare case-insensitively, as ssh compares them.
  pinsFor = knownHosts: host: port:
    let
      name = knownHostsName host port;
      parsed = filter (l: l != null) (map parseKnownHostsLine knownHosts);
      builtin = if port == 22 then concatLists (map (b: b.keys) (filter (b: b.host == name) builtinHosts)) else [ ];
      configured = map (l: { inherit (l) type key; }) (filter (l: elem name l.names) parsed);
    in
    unique (builtin ++ configured);

  knownHostsFile = repos: knownHosts:
    let
      names = unique (map (r: { host = r.url.host; port = r.url.port; }) repos);
      entry = ep: map (k: "${knownHostsName ep.host ep.port} ${k.type} ${k.key}\n") (pinsFor knownHosts ep.host ep.port);
    in
    "# nix-deploy-keys: pinned host keys for the deploy-key aliases (managed file; regenerated)\n"
    + concatStringsSep "" (concatLists (map entry names));

  # `'it'\''s'`
  shQuote = s: "'${replaceStrings [ "'" ] [ "'\\''" ] s}'";

  # Normalised repo list from { name, url, cloneTo, publicKey ? null }, URLs parsed.
  parseRepos = repos: map (r: r // { url = parseUrl r.url; publicKey = r.publicKey or null; }) repos;

  # Everything wrong with a description, each with the field it is about:
  # { field = [ "repos" "x" "url" ]; value = "..."; message = "repo x: url ..."; }
  # (field names as in the description; the module turns them into option paths).
  fieldProblems = { host, user, home, repos, knownHosts ? [ ], ... }:
    let
      parsed = parseRepos repos;
      aliases = map (r: if isString r.url then null else alias r.name r.url) parsed;
      keys = map (r: repoKey r.url) (filter (r: !isString r.url) parsed);
      problem = field: value: message: { inherit field value message; };
      repoProblems = raw:
        let r = raw // { url = parseUrl raw.url; publicKey = raw.publicKey or null; }; in
        (if match repoNameRe r.name == null || hasInfix ".." r.name || match ".*\\.(git|lock)" r.name != null
          then [ (problem [ "repos" r.name ] r.name "repo name \"${r.name}\" must match [a-z0-9][a-z0-9._-]* (no .., not ending in .git/.lock)") ] else [ ])
        ++ (if isString r.url then [ (problem [ "repos" r.name "url" ] raw.url "repo ${r.name}: url ${r.url}") ] else
          (if pinsFor knownHosts r.url.host r.url.port == [ ] then [
            (problem [ "repos" r.name "url" ] raw.url "repo ${r.name}: no pinned host key for ${knownHostsName r.url.host r.url.port}; add a known_hosts line \"${knownHostsName r.url.host r.url.port} ssh-ed25519 AAAA...\" verified out of band")
          ] else [ ]))
        ++ (if match safePathRe r.cloneTo == null || hasInfix "/../" "${r.cloneTo}/" then [ (problem [ "repos" r.name "cloneTo" ] r.cloneTo "repo ${r.name}: cloneTo \"${r.cloneTo}\" must be an absolute path of letters, digits and . _ - @ + /") ] else [ ])
        ++ (if r.publicKey != null && match "(${keyTypeRe}) [A-Za-z0-9+/]+=*( [A-Za-z0-9._@+-]{1,200})?" r.publicKey == null
          then [ (problem [ "repos" r.name "publicKey" ] r.publicKey "repo ${r.name}: publicKey must be \"TYPE BASE64 [COMMENT]\"") ] else [ ]);
    in
    (if match "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?" host == null then [ (problem [ "host" ] host "host name \"${host}\" is not an RFC 1123 label") ] else [ ])
    ++ (if match userRe user == null then [ (problem [ "user" ] user "user \"${user}\" is not a valid user name") ] else [ ])
    ++ (if match safePathRe home == null || (home != "/" && match ".*/" home != null) then [ (problem [ "home" ] home "home \"${home}\" must be an absolute path without a trailing slash") ] else [ ])
    ++ (if repos == [ ] then [ (problem [ "repos" ] { } "no repos configured") ] else [ ])
    ++ (if length (unique aliases) != length aliases then [ (problem [ "repos" ] (map (r: r.name) repos) "two repos get the same ssh alias") ] else [ ])
    ++ (if length (unique keys) != length keys then [ (problem [ "repos" ] (map (r: r.name) repos) "two repos are the same repository (same host, port and path)") ] else [ ])
    ++ filter (p: p.message != null)
      (genList (i: let line = elemAt knownHosts i; in problem [ "knownHosts" ] line (knownHostsLineProblem i line)) (length knownHosts))
    ++ concatLists (map repoProblems repos);

  # The same problems as plain messages.
  problems = desc: map (p: p.message) (fieldProblems desc);

  renderHeader = { host, user, home, repos, ... }:
    joinLines ([
      "# deploy-keys activation script for host ${host}, user ${user} (home ${home})."
      "# Generated by nix-deploy-keys from deploy-keys.yaml: edit that, not this file."
      "# Reads <keys-dir>/<repo> (or the stdin stream) for each repo:"
    ] ++ map (r: "#   ${r.name}: ${r.url.raw} -> ${r.cloneTo} via ssh alias ${alias r.name r.url}") repos) + "\n";

  renderData = { host, user, home, insteadOf ? false, pull ? false, gitSsh ? true, repos, knownHosts ? [ ], gitSshTemplate, ... }@d:
    let
      repoLine = r: "  \"$@\" " + concatStringsSep " " (map shQuote [
        r.name
        (alias r.name r.url)
        (aliasUrl r.name r.url)
        r.cloneTo
        (if r.publicKey == null then "" else r.publicKey)
      ]);
      rules = concatLists (map insteadOfRules repos);
      ruleLines = map (x: "  \"$@\" ${shQuote x.base} ${shQuote x.value}") rules;
    in
    joinLines ([
      "# ---- data for this host (rendered) ----"
      "DK_HOST=${shQuote host}"
      "DK_USER=${shQuote user}"
      "DK_HOME=${shQuote home}"
      "DK_INSTEADOF=${if insteadOf then "1" else "0"}"
      "DK_PULL=${if pull then "1" else "0"}"
      "DK_KNOWN_HOSTS=${shQuote (knownHostsFile repos knownHosts)}"
      "DK_SSH_BLOCK=${shQuote (sshBlock repos home)}"
      "DK_GIT_SSH=${if gitSsh then "1" else "0"}"
      "DK_GIT_SSH_FILE=${shQuote (gitSshPath home)}"
      "# shellcheck disable=SC2016 # literal: expanded by the shell git starts"
      "DK_GIT_SSH_COMMAND=${shQuote (gitSshCommand home)}"
      "# shellcheck disable=SC1003,SC2016 # the text of another script"
      "DK_GIT_SSH_SCRIPT=${shQuote (gitSshScript gitSshTemplate d)}"
      "# dk_repos FUNCTION: calls FUNCTION name alias clone-url clone-to expected-public-key, per repo."
      "dk_repos() {"
    ] ++ map repoLine repos ++ [
      "}"
      "# dk_insteadof_rules FUNCTION: calls FUNCTION base value, per git url.<base>.insteadOf rule."
      "dk_insteadof_rules() {"
    ] ++ (if ruleLines == [ ] then [ "  :" ] else ruleLines) ++ [
      "}"
      ""
    ]);

  # The activation script text. `desc` = { host, user, home, insteadOf, pull,
  # gitSsh, repos = [ { name, url, cloneTo, publicKey ? null } ], knownHosts }.
  # Repos in name order whatever the list's order (the CLI's renderer sorts
  # too), so the script depends only on the set of repos.
  # Throws with every problem listed when the description is invalid.
  renderScript =
    { template ? builtins.readFile ../scripts/lib/activation/template.sh
    , gitSshTemplate ? builtins.readFile ../scripts/lib/activation/git-ssh.sh
    , ...
    }@desc:
    let
      ps = problems desc;
      d = desc // { repos = sort (a: b: lessThan a.name b.name) (parseRepos desc.repos); inherit gitSshTemplate; };
    in
    if ps != [ ] then throw ("deploy-keys: " + concatStringsSep "; " ps)
    else replaceStrings [ "# @HEADER@\n" "# @DATA@\n" ] [ (renderHeader d) (renderData d) ] template;
}
