# NixOS module for nix-deploy-keys: per-host read-only deploy keys from SOPS.
#
# One source of truth. The shell logic exists once, in
# scripts/lib/activation/template.sh. `deploy-keys activation <host>` (TypeScript,
# render.ts) and this module (Nix, lib.nix) both splice that template with the
# same rendered header and data section, and the tests check that the two give
# byte-identical scripts for the same inputs. So the module runs exactly the
# script the CLI prints; only the key source differs (the files sops-nix
# writes instead of stdin).
#
#   imports = [ sops-nix.nixosModules.sops nix-deploy-keys.nixosModules.default ];
#   services.deploy-keys = {
#     enable = true;
#     secretsRoot = ./.;                       # holds sops/<hostName>.yaml
#     repos.nix-config.url = "git@github.com:acme/nix-config.git";
#     repos.infra = { url = "ssh://git@git.example.org:2222/srv/infra.git"; cloneTo = "/etc/infra"; };
#     knownHosts = [ "[git.example.org]:2222 ssh-ed25519 AAAA..." ];
#   };
#
# Two steps:
#  - activation (system.activationScripts.deploy-keys, after sops-nix's
#    setupSecrets): keys, ~/.ssh/config block, pins, git rules. No network.
#  - deploy-keys-clone.service (after network-online.target, retried): the same
#    script again (a no-op for the keys) plus the clones.
# With sops-nix's systemd-based activation (sops.useSystemdActivation, the
# default with systemd-sysusers or userborn) the secrets only exist after
# activation: the service then installs the keys, and sops-nix restarts it
# when a key changes.
#
# nix/checks/ evaluates this module with nixpkgs' lib and the real sops-nix
# module (`nix flake check`, and test/nix/ in `npm test`).
{ config, lib, pkgs, options, ... }:

let
  inherit (lib) mkOption mkEnableOption mkIf mkMerge types literalExpression;

  cfg = config.services.deploy-keys;
  dk = import ./lib.nix;
  opt = path: lib.showOption ([ "services" "deploy-keys" ] ++ path);
  show = builtins.toJSON;

  sopsImported = options ? sops && options.sops ? secrets;
  # Where sops-nix installs the secrets: in its `setupSecrets` activation
  # snippet, or in sops-install-secrets.service after activation. Decided from
  # sops-nix's own option (never from which activation snippets exist: reading
  # those names while defining one recurses).
  secretsBySystemd =
    sopsImported && (
      if options.sops ? useSystemdActivation then config.sops.useSystemdActivation
      else (options.systemd ? sysusers && config.systemd.sysusers.enable)
        || (options.services ? userborn && config.services.userborn.enable)
    );

  # `deploy-keys activation <host> --json`, when given.
  fileDesc = if cfg.descriptionFile == null then null else builtins.fromJSON (builtins.readFile cfg.descriptionFile);
  fromFile = attr: default: if fileDesc == null then default else fileDesc.${attr} or default;
  fileProblems = lib.optional (fileDesc != null && !(builtins.all (a: fileDesc ? ${a}) [ "host" "user" "home" "insteadOf" "pull" "repos" "knownHosts" ]))
    "${opt [ "descriptionFile" ]} = ${show (toString cfg.descriptionFile)}: not the output of `deploy-keys activation <host> --json` (it needs host, user, home, insteadOf, pull, repos, knownHosts); write it again with that command";

  # Repos by name, the one order both renderers use (nix/lib.nix sorts them
  # again), so the script is the CLI's byte for byte whatever order
  # deploy-keys.yaml lists them in.
  desc = {
    host = cfg.hostName;
    inherit (cfg) user home knownHosts insteadOf pull gitSsh;
    repos = lib.mapAttrsToList (name: r: { inherit name; inherit (r) url cloneTo publicKey; }) cfg.repos;
  };

  # Problems with the description, each named by its option and value.
  descProblems = map
    (p:
      let
        path = if p.field == [ "host" ] then [ "hostName" ] else p.field;
        value = if p.value == { } then "" else " = ${show p.value}";
      in
      "${opt path}${value}: ${p.message}")
    (dk.fieldProblems desc);

  secretName = name: "deploy-keys/${name}";
  # The script reads every key as <dir>/<repo> from one directory: the
  # directory of the secrets' paths, which must agree.
  keyPaths = if sopsImported && cfg.sopsFile != null then lib.genAttrs (builtins.attrNames cfg.repos) (name: config.sops.secrets.${secretName name}.path) else { };
  keyDirs = lib.unique (lib.mapAttrsToList (_: dirOf) keyPaths);
  keysDir = if keyDirs == [ ] then "/run/secrets/deploy-keys" else builtins.head keyDirs;
  keyPathProblems = lib.optional (builtins.length keyDirs > 1 || lib.any (name: baseNameOf keyPaths.${name} != name) (builtins.attrNames keyPaths))
    ("the deploy-keys activation script reads every key as <dir>/<repo> from one directory, so each sops.secrets.\"deploy-keys/<repo>\".path must be <dir>/<repo> with the same <dir>; now: "
      + lib.concatStringsSep ", " (lib.mapAttrsToList (name: path: "${lib.showOption [ "sops" "secrets" (secretName name) "path" ]} = ${show path}") keyPaths));

  script =
    if cfg.enable && descProblems == [ ] && fileProblems == [ ]
    then pkgs.writeText "deploy-keys-activation-${cfg.hostName}.sh" (dk.renderScript desc)
    else null;

  runService = cfg.clone || secretsBySystemd;
  runtimeInputs = [ pkgs.openssh pkgs.git pkgs.coreutils ];
  shell = "${pkgs.dash}/bin/dash";
  # The script manages the files of the user it runs as (never root writing
  # into a user-owned ~/.ssh, where symlink tricks would be possible).
  runAs = cmd: if cfg.user == "root" then cmd else "${pkgs.util-linux}/bin/runuser -u ${cfg.user} -- ${cmd}";
  # env sets PATH after runuser, which may reset it.
  runScript = args: runAs "${pkgs.coreutils}/bin/env PATH=${lib.makeBinPath runtimeInputs} ${shell} ${script} ${args}";

  parsedRepos = lib.filter (r: !builtins.isString r.url) (dk.parseRepos desc.repos);
  pins = lib.unique (lib.concatMap
    (r: map (k: { name = dk.knownHostsName r.url.host r.url.port; inherit (k) type key; }) (dk.pinsFor cfg.knownHosts r.url.host r.url.port))
    parsedRepos);

  userDeclared = config.users.users ? ${cfg.user};

  repoModule = { name, config, ... }: {
    options = {
      url = mkOption {
        type = types.str;
        example = "git@github.com:acme/nix-config.git";
        description = ''
          SSH URL of the repository: scp-like `user@host:owner/repo.git` or
          `ssh://user@host[:port]/path/repo.git`. The host must have a pinned
          key: github.com's and gitlab.com's are built in, others go in
          {option}`services.deploy-keys.knownHosts`.
        '';
      };
      cloneTo = mkOption {
        type = types.str;
        default = if cfg.home == "/" then "/${name}" else "${cfg.home}/${name}";
        defaultText = literalExpression ''"''${config.services.deploy-keys.home}/<name>"'';
        example = "/etc/nixos";
        description = ''
          Absolute path the repository is cloned to when absent (an existing
          checkout is left alone). The default is the CLI's default for the
          same user.
        '';
      };
      publicKey = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "ssh-ed25519 AAAAC3Nza... web-01-nix-config-deploy";
        description = ''
          Expected public half of this repo's deploy key. When set, the script
          refuses a private key that does not match it (a corrupted or
          misplaced secret) instead of installing it.
        '';
      };
      alias = mkOption {
        type = types.str;
        readOnly = true;
        default = let u = dk.parseUrl config.url; in if builtins.isString u then "<invalid url>" else dk.alias name u;
        defaultText = literalExpression ''"<host>-<name>"'';
        description = ''
          The ssh alias (`Host` entry in ~/.ssh/config) the repo is reached
          through, e.g. `github.com-nix-config`; clones use `<alias>:<path>`.
        '';
      };
    };
  };
in
{
  options.services.deploy-keys = {
    enable = mkEnableOption "per-host read-only deploy keys installed from SOPS (nix-deploy-keys)";

    hostName = mkOption {
      type = types.str;
      default = fromFile "host" config.networking.hostName;
      defaultText = literalExpression "the descriptionFile's host, else config.networking.hostName";
      description = "Host name the keys were generated for; selects `sops/<hostName>.yaml`.";
    };

    secretsRoot = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = literalExpression "inputs.nix-secrets";
      description = ''
        Directory holding deploy-keys.yaml and the `sops/` directory, usually
        the flake itself or a secrets flake input. Only used to derive
        {option}`services.deploy-keys.sopsFile`.
      '';
    };

    sopsFile = mkOption {
      type = types.nullOr types.path;
      default = if cfg.secretsRoot == null then null else cfg.secretsRoot + "/sops/${cfg.hostName}.yaml";
      defaultText = literalExpression ''config.services.deploy-keys.secretsRoot + "/sops/''${hostName}.yaml"'';
      description = ''
        SOPS file holding this host's keys under `deploy-keys.<repo>`. Each
        repo becomes the sops-nix secret `deploy-keys/<repo>` (sops-nix reads
        a key with `/` as a nested YAML key). A path, so that sops-nix can
        check the file at evaluation time ({option}`sops.validateSopsFiles`).
      '';
    };

    descriptionFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      example = literalExpression "./hosts/web-01/deploy-keys.json";
      description = ''
        The output of `deploy-keys activation <host> --json`: this host's
        repos, pins, user and flags as the CLI resolved them from
        deploy-keys.yaml, so they are not written twice. It supplies the
        defaults of {option}`services.deploy-keys.hostName`, `user`, `home`,
        `insteadOf`, `pull`, `repos` and `knownHosts`; the module then runs
        exactly the script that command prints.
      '';
    };

    repos = mkOption {
      type = types.attrsOf (types.submodule repoModule);
      default = if fileDesc == null then { } else
        builtins.listToAttrs (map (r: { inherit (r) name; value = { inherit (r) url cloneTo; publicKey = r.publicKey or null; }; }) (fileDesc.repos or [ ]));
      defaultText = literalExpression "{ } (or the repos of descriptionFile)";
      example = literalExpression ''{ nix-config.url = "git@github.com:acme/nix-config.git"; }'';
      description = "Repositories this host gets a deploy key for, by repo name (`[a-z0-9][a-z0-9._-]*`).";
    };

    user = mkOption {
      type = types.str;
      default = fromFile "user" "root";
      defaultText = literalExpression ''the descriptionFile's user, else "root"'';
      description = ''
        User whose ~/.ssh receives the keys and who owns the clones; must be
        declared in {option}`users.users`. The script runs as this user.
      '';
    };

    home = mkOption {
      type = types.str;
      default = fromFile "home" (config.users.users.${cfg.user}.home or (if cfg.user == "root" then "/root" else "/home/${cfg.user}"));
      defaultText = literalExpression "the descriptionFile's home, else config.users.users.\${user}.home";
      description = "Home directory of {option}`services.deploy-keys.user`; must be that user's {option}`users.users.<name>.home`.";
    };

    knownHosts = mkOption {
      type = types.listOf types.str;
      default = fromFile "knownHosts" [ ];
      example = [ "[git.example.org]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA..." ];
      description = ''
        Pinned host keys (`known_hosts` lines) for hosts other than github.com,
        whose published keys are built in. Write `[host]:port` for a port other
        than 22. Verify them out of band; there is no trust on first use.
      '';
    };

    insteadOf = mkOption {
      type = types.bool;
      default = fromFile "insteadOf" false;
      description = ''
        Also write git `url.<alias>.insteadOf` rules to the user's
        ~/.gitconfig, which send the repos' https:// URLs (and ssh ones)
        through their alias and key. Not needed for ssh URLs, which
        {option}`services.deploy-keys.gitSsh` covers for any HOME; git reads
        these rules only when HOME is the user's, and they match by prefix
        (the rule for …/nix-config also catches …/nix-config-extra).
      '';
    };

    gitSsh = mkOption {
      type = types.bool;
      default = fromFile "gitSsh" true;
      defaultText = literalExpression "the descriptionFile's gitSsh, else true";
      description = ''
        Point git's ssh at the deploy keys, so that git and Nix fetch the
        repos' usual URLs (`git+ssh://git@github.com/acme/nix-config`,
        `builtins.fetchGit { url = "git@github.com:acme/nix-secrets.git"; }`,
        flake inputs, {option}`system.autoUpgrade.flake`) through them. The
        script installs a small wrapper as ~/.ssh/deploy-keys-git-ssh; for
        root this module names it in `core.sshCommand` of /etc/gitconfig
        ({option}`programs.git.config`), which git reads whatever HOME is
        (sudo, systemd services, nix-daemon clients). Other users and other
        repos get plain ssh.
      '';
    };

    pull = mkOption {
      type = types.bool;
      default = fromFile "pull" false;
      description = "Fast-forward existing checkouts in deploy-keys-clone.service (default: leave them alone).";
    };

    clone = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Clone absent repos in deploy-keys-clone.service after the network is up.
        (With sops-nix's systemd-based activation the service runs anyway,
        with `--no-clone`, to install the keys once sops-nix has written them.)
      '';
    };

    restartSec = mkOption {
      type = types.ints.positive;
      default = 30;
      description = "Seconds between retries of a failed clone.";
    };

    startLimitBurst = mkOption {
      type = types.ints.positive;
      default = 10;
      description = "Clone attempts within 30 minutes before systemd gives up.";
    };

    setSystemKnownHosts = mkOption {
      type = types.bool;
      default = true;
      description = ''
        Also add the pins to {option}`programs.ssh.knownHosts`, so other ssh
        users of these hosts never fall back to trust on first use. (The
        aliases themselves trust only their own pinned file.)
      '';
    };

    script = mkOption {
      type = types.nullOr types.package;
      readOnly = true;
      default = script;
      defaultText = literalExpression "<rendered activation script>";
      description = ''
        The rendered activation script (it holds no secret), identical to
        `deploy-keys activation <host>` with the same inputs; null while the
        module is disabled or its configuration has problems (see the
        assertions).
      '';
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = sopsImported;
          message = "${opt [ "enable" ]} = true needs sops-nix, which provides the secrets: add sops-nix.nixosModules.sops to this host's modules (no option sops.secrets is declared).";
        }
        {
          assertion = cfg.sopsFile != null;
          message = "${opt [ "sopsFile" ]} = null: set ${opt [ "secretsRoot" ]} to the directory holding sops/${cfg.hostName}.yaml, or ${opt [ "sopsFile" ]} to that file.";
        }
        {
          assertion = userDeclared;
          message = "${opt [ "user" ]} = ${show cfg.user}: no such user in users.users; declare users.users.${cfg.user} or choose a declared user.";
        }
        {
          assertion = !userDeclared || config.users.users.${cfg.user}.home == cfg.home;
          message = "${opt [ "home" ]} = ${show cfg.home} differs from users.users.${cfg.user}.home = ${show (config.users.users.${cfg.user}.home or null)}; ssh would read another ~/.ssh. Make them agree.";
        }
        {
          assertion = fileDesc == null || fileDesc.host or null == cfg.hostName;
          message = "${opt [ "descriptionFile" ]} = ${show (toString cfg.descriptionFile)} describes host ${show (fileDesc.host or null)}, but ${opt [ "hostName" ]} = ${show cfg.hostName}; write it with `deploy-keys activation ${cfg.hostName} --json`.";
        }
      ] ++ map (message: { assertion = false; inherit message; }) (fileProblems ++ descProblems ++ keyPathProblems);

      systemd.services.deploy-keys-clone = mkIf runService {
        description = "Install deploy keys and clone repositories (nix-deploy-keys)";
        wantedBy = [ "multi-user.target" ];
        wants = lib.optional cfg.clone "network-online.target";
        after = [ "sops-install-secrets.service" ] ++ lib.optional cfg.clone "network-online.target";
        path = runtimeInputs;
        startLimitBurst = cfg.startLimitBurst;
        startLimitIntervalSec = 1800;
        serviceConfig = {
          Type = "oneshot";
          # Active after success, so a changed script is run again on switch.
          RemainAfterExit = true;
          User = cfg.user;
          ExecStart = "${shell} ${script} --keys-dir ${keysDir}${lib.optionalString (!cfg.clone) " --no-clone"}";
          Restart = "on-failure";
          RestartSec = cfg.restartSec;
          NoNewPrivileges = true;
          PrivateTmp = true;
        };
      };

      # Root's git reads /etc/gitconfig whatever HOME is (another user's
      # ~/.gitconfig is written by the script). A conflicting core.sshCommand
      # or programs.git.enable = false is an evaluation error: set
      # gitSsh = false and point git's ssh at the keys yourself.
      programs.git = mkIf (cfg.gitSsh && cfg.user == "root") {
        enable = true;
        config.core.sshCommand = dk.gitSshCommand cfg.home;
      };

      # nixos-upgrade.service (HOME=/root, git and ssh on its PATH) then
      # fetches a git+ssh flake through the keys. At boot it waits for the
      # clone service, which installs them with sops-nix's systemd activation
      # (ordering against a unit that does not exist is a no-op).
      systemd.services.nixos-upgrade = mkIf config.system.autoUpgrade.enable {
        after = [ "deploy-keys-clone.service" ];
      };

      programs.ssh.knownHosts = mkIf cfg.setSystemKnownHosts (builtins.listToAttrs (map
        (p: {
          name = "deploy-keys ${p.name} ${p.type}";
          value = { hostNames = [ p.name ]; publicKey = "${p.type} ${p.key}"; };
        })
        pins));
    }

    # Declared only when sops-nix is imported: defining an undeclared option
    # fails evaluation even under mkIf, before the assertion could explain.
    (lib.optionalAttrs sopsImported {
      # sops-nix installs the secrets in its setupSecrets snippet: install the
      # keys right after it, without network (clones wait for the service).
      system.activationScripts.deploy-keys = mkIf (!secretsBySystemd) {
        # After etc: the script checks core.sshCommand in the new /etc/gitconfig.
        deps = [ "users" "groups" "etc" ] ++ lib.optional (cfg.repos != { }) "setupSecrets";
        text = ''
          # deploy-keys: keys, ssh aliases, pins (no network; clones run in deploy-keys-clone.service)
          ${runScript "--keys-dir ${keysDir} --no-clone --quiet"}
        '';
      };

      sops.secrets = mkIf (cfg.sopsFile != null) (lib.mapAttrs'
        (name: _: lib.nameValuePair (secretName name) {
          inherit (cfg) sopsFile;
          # sops-install-secrets walks "/"-separated keys into nested YAML: deploy-keys -> <repo>.
          key = secretName name;
          format = "yaml";
          owner = cfg.user;
          mode = "0400";
          # With systemd-based sops-nix activation nothing else runs the
          # script after a key changes.
          restartUnits = lib.optional secretsBySystemd "deploy-keys-clone.service";
        })
        cfg.repos);
    })
  ]);
}
