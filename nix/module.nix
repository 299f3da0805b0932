# NixOS module for nix-deploy-keys: per-host read-only deploy keys from SOPS.
#
# One source of truth. The shell logic exists once, in
# scripts/lib/activation/template.sh. `deploy-keys activation <host>` (TypeScript,
# render.ts) and this module (Nix, lib.nix) both splice that template with the
# same rendered header and data section, and test/nix/lib.test.ts checks that
# the two renderers give byte-identical scripts for the same inputs. So the
# module runs exactly the script the CLI prints; only the key source differs
# (sops-nix files under /run/secrets/deploy-keys instead of stdin).
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
#    With sops-nix's systemd-based activation (sysusers/userborn) the secrets
#    only exist after activation: the service then installs the keys too, and
#    sops-nix restarts it when a key changes.
{ config, lib, pkgs, options, ... }:

let
  inherit (lib) mkOption mkEnableOption mkIf mkMerge types literalExpression;

  cfg = config.services.deploy-keys;
  dk = import ./lib.nix;

  sopsImported = options ? sops && options.sops ? secrets;

  fileDesc = if cfg.descriptionFile == null then null else builtins.fromJSON (builtins.readFile cfg.descriptionFile);

  repoList = lib.mapAttrsToList (name: r: { inherit name; inherit (r) url cloneTo publicKey; }) cfg.repos;
  desc = {
    host = cfg.hostName;
    inherit (cfg) user home knownHosts insteadOf pull;
    repos = repoList;
  };
  problems = dk.problems desc;

  script = pkgs.writeText "deploy-keys-activation-${cfg.hostName}.sh" (dk.renderScript desc);

  keysDir = "${config.sops.defaultSymlinkPath or "/run/secrets"}/deploy-keys";

  # sops-nix installs the secrets either in its `setupSecrets` activation
  # snippet or, with systemd-based activation (sysusers/userborn), in
  # sops-install-secrets.service, after activation. In the second case the keys
  # do not exist yet when activation runs, so the service installs them.
  # (Only ever read lazily, inside values: never to decide which attributes
  # exist, which would recurse through sops-nix's own definitions.)
  secretsByActivation = config.system.activationScripts ? setupSecrets;
  runService = cfg.clone || !secretsByActivation;
  runtimeInputs = [ pkgs.openssh pkgs.git pkgs.coreutils ];
  shell = "${pkgs.dash}/bin/dash";
  # The script manages the files of the user it runs as (never root writing
  # into a user-owned ~/.ssh, where symlink tricks would be possible).
  runAs = cmd: if cfg.user == "root" then cmd else "${pkgs.util-linux}/bin/runuser -u ${cfg.user} -- ${cmd}";
  # env sets PATH after runuser, which may reset it.
  runScript = args: runAs "${pkgs.coreutils}/bin/env PATH=${lib.makeBinPath runtimeInputs} ${shell} ${script} ${args}";

  parsedRepos = dk.parseRepos repoList;
  pins = lib.unique (lib.concatMap
    (r: map (k: { name = dk.knownHostsName r.url.host r.url.port; inherit (k) type key; }) (dk.pinsFor cfg.knownHosts r.url.host r.url.port))
    (lib.filter (r: !builtins.isString r.url) parsedRepos));

  repoModule = { name, config, ... }: {
    options = {
      url = mkOption {
        type = types.str;
        example = "git@github.com:acme/nix-config.git";
        description = ''
          SSH URL of the repository: scp-like `user@host:owner/repo.git` or
          `ssh://user@host[:port]/path/repo.git`. The host must have a pinned
          key: github.com's are built in, others go in
          {option}`services.deploy-keys.knownHosts`.
        '';
      };
      cloneTo = mkOption {
        type = types.str;
        default = "${cfg.home}/${name}";
        defaultText = literalExpression ''"''${config.services.deploy-keys.home}/<name>"'';
        description = "Absolute path the repository is cloned to when absent. An existing checkout is left alone.";
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
      default = config.networking.hostName;
      defaultText = literalExpression "config.networking.hostName";
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
      type = types.nullOr (types.either types.str types.path);
      default = if cfg.secretsRoot == null then null else cfg.secretsRoot + "/sops/${cfg.hostName}.yaml";
      defaultText = literalExpression ''config.services.deploy-keys.secretsRoot + "/sops/''${hostName}.yaml"'';
      description = ''
        SOPS file holding this host's keys under `deploy-keys.<repo>`. Each
        repo becomes the sops-nix secret `deploy-keys/<repo>`.
      '';
    };

    descriptionFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = ''
        Optional JSON description of this host's repos and pins
        (`{ repos = [ { name, url, cloneTo, publicKey } ]; knownHosts = [ ... ]; }`),
        as generated from deploy-keys.yaml, so repos are not listed twice.
        Supplies the defaults of {option}`services.deploy-keys.repos` and
        {option}`services.deploy-keys.knownHosts`.
      '';
    };

    repos = mkOption {
      type = types.attrsOf (types.submodule repoModule);
      default = if fileDesc == null then { } else
        builtins.listToAttrs (map (r: { inherit (r) name; value = { inherit (r) url cloneTo; publicKey = r.publicKey or null; }; }) fileDesc.repos);
      defaultText = literalExpression "{ } (or the repos of descriptionFile)";
      example = literalExpression ''{ nix-config.url = "git@github.com:acme/nix-config.git"; }'';
      description = "Repositories this host gets a deploy key for, by repo name (`[a-z0-9][a-z0-9._-]*`).";
    };

    user = mkOption {
      type = types.str;
      default = "root";
      description = "User whose ~/.ssh receives the keys and who owns the clones. The script runs as this user.";
    };

    home = mkOption {
      type = types.str;
      default = config.users.users.${cfg.user}.home or (if cfg.user == "root" then "/root" else "/home/${cfg.user}");
      defaultText = literalExpression "config.users.users.\${user}.home";
      description = "Home directory of {option}`services.deploy-keys.user`.";
    };

    knownHosts = mkOption {
      type = types.listOf types.str;
      default = if fileDesc == null then [ ] else fileDesc.knownHosts or [ ];
      example = [ "[git.example.org]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA..." ];
      description = ''
        Pinned host keys (`known_hosts` lines) for hosts other than github.com,
        whose published keys are built in. Write `[host]:port` for a port other
        than 22. Verify them out of band; there is no trust on first use.
      '';
    };

    insteadOf = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Write git `url.<alias>.insteadOf` rules to the user's ~/.gitconfig so
        the repos' usual URLs (scp-like, ssh://, https://) go through their
        alias and key; flake inputs like `git+ssh://git@github.com/acme/x`
        then work unchanged.
      '';
    };

    pull = mkOption {
      type = types.bool;
      default = false;
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
      type = types.package;
      readOnly = true;
      default = script;
      defaultText = literalExpression "<rendered activation script>";
      description = "The rendered activation script (holds no secret), identical to `deploy-keys activation <host>`.";
    };
  };

  config = mkIf cfg.enable (mkMerge [
    {
      assertions = [
        {
          assertion = sopsImported;
          message = "services.deploy-keys needs sops-nix: add sops-nix.nixosModules.sops to your modules.";
        }
        {
          assertion = cfg.sopsFile != null;
          message = "services.deploy-keys: set secretsRoot (or sopsFile) to where sops/${cfg.hostName}.yaml lives.";
        }
        {
          assertion = config.users.users ? ${cfg.user};
          message = "services.deploy-keys.user: user ${cfg.user} is not declared in users.users.";
        }
        {
          assertion = !(config.users.users ? ${cfg.user}) || config.users.users.${cfg.user}.home == cfg.home;
          message = "services.deploy-keys.home (${cfg.home}) differs from users.users.${cfg.user}.home; ssh would read another ~/.ssh.";
        }
      ] ++ map (p: { assertion = false; message = "services.deploy-keys: ${p}"; }) problems;

      system.activationScripts.deploy-keys = {
        # sops-nix's setupSecrets writes /run/secrets; with its systemd
        # activation there is no such snippet and the clone service (ordered
        # after sops-install-secrets.service) installs the keys instead.
        deps = [ "users" "groups" ] ++ lib.optional secretsByActivation "setupSecrets";
        text = if secretsByActivation then ''
          # deploy-keys: keys, ssh aliases, pins (no network; clones run in deploy-keys-clone.service)
          ${runScript "--keys-dir ${keysDir} --no-clone --quiet"}
        '' else ''
          # deploy-keys: sops-nix installs the secrets in sops-install-secrets.service,
          # after activation; deploy-keys-clone.service installs the keys then.
        '';
      };

      systemd.services.deploy-keys-clone = mkIf runService {
        description = "Clone repositories with per-host deploy keys (nix-deploy-keys)";
        wantedBy = [ "multi-user.target" ];
        wants = [ "network-online.target" ];
        after = [ "network-online.target" "sops-install-secrets.service" ];
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
      sops.secrets = mkIf (cfg.sopsFile != null) (lib.mapAttrs'
        (name: _: lib.nameValuePair "deploy-keys/${name}" {
          inherit (cfg) sopsFile;
          # sops-nix walks nested YAML keys separated by "/": deploy-keys -> <repo>.
          key = "deploy-keys/${name}";
          owner = cfg.user;
          mode = "0400";
          # With systemd-based sops-nix activation nothing else runs the
          # script after a key changes. (A value, not an attribute that may be
          # absent: see secretsByActivation.)
          restartUnits = lib.optional (!secretsByActivation) "deploy-keys-clone.service";
        })
        cfg.repos);
    })
  ]);
}
