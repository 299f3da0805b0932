# NixOS module for the operator's side of nix-deploy-keys: rotation and audit
# of the fleet's deploy keys on a schedule, on a machine that keeps a checkout
# of the secrets repository (the one holding deploy-keys.yaml).
#
#   imports = [ nix-deploy-keys.nixosModules.maintenance ];
#   services.deploy-keys-maintenance = {
#     enable = true;
#     repository = "git@github.com:acme/nix-secrets.git";
#     ageKeyFile = "/run/secrets/deploy-keys-age";      # rotation only
#     githubAppKeyFile = "/run/secrets/github-app.pem"; # forge.auth of type app
#     git.sshKeyFile = "/run/secrets/nix-secrets-push";  # pushes the rotation's commit
#     audit.textfile = "/var/lib/prometheus-node-exporter/deploy-keys.prom";
#   };
#
# Two oneshot services, each on its own timer, run scripts/maintenance/scheduled.sh
# (the same script the GitHub Actions template runs):
#  - deploy-keys-rotate: pull; rotate --all; rotate --finish --all; commit;
#    push. On success it starts the audit, so the metrics follow at once.
#  - deploy-keys-audit: pull; audit (with audit.textfile: the node_exporter
#    textfile). Needs no age identity: it gets none.
# Both fail loudly (non-zero exit: the unit fails, `onFailure` units start)
# and take one lock, so an audit never pulls under a running rotation.
# Secrets reach the services as systemd credentials (LoadCredential: read by
# systemd, handed to the service user in a private, non-swappable directory),
# never through the Nix store or the unit file.
#
# nix/checks/maintenance.nix evaluates this module (`nix flake check`, and
# test/nix/ in `npm test`, which also checks the units with systemd-analyze).
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkOption mkEnableOption mkIf types literalExpression optional optionalAttrs optionalString;

  cfg = config.services.deploy-keys-maintenance;
  dk = import ./lib.nix;
  opt = path: lib.showOption ([ "services" "deploy-keys-maintenance" ] ++ path);
  show = builtins.toJSON;

  # Paths go into ExecStart= and the script's command line unquoted: a plain
  # alphabet keeps them one word for systemd and sh alike.
  safePath = p: builtins.match "/[A-Za-z0-9._/@+-]*" p != null && !(lib.hasInfix "/../" "${p}/") && !(lib.hasInfix "/./" "${p}/");
  secretPath = p: safePath p && !(lib.hasPrefix builtins.storeDir p);
  stateDir = "/var/lib/deploy-keys";
  lockFile = "${stateDir}/maintenance.lock";

  repoUrl = if cfg.repository == null then null else dk.parseUrl cfg.repository;
  sshRepo = builtins.isAttrs repoUrl;
  pins = if sshRepo then dk.pinsFor cfg.git.knownHosts repoUrl.host repoUrl.port else [ ];
  knownHosts = pkgs.writeText "deploy-keys-maintenance-known-hosts" (dk.knownHostsFile [ { url = repoUrl; } ] cfg.git.knownHosts);

  script = pkgs.writeText "deploy-keys-scheduled.sh" (builtins.readFile ../scripts/maintenance/scheduled.sh);
  scriptArgs = lib.concatStringsSep " " (
    [ "--dir" cfg.directory ]
    ++ lib.optionals (cfg.configFile != null) [ "--config" cfg.configFile ]
    ++ lib.optionals (cfg.repository != null) [ "--remote" cfg.repository ]
    ++ lib.optionals (cfg.branch != null) [ "--branch" cfg.branch ]
  );
  # One lock for both jobs: an audit never pulls while a rotation writes.
  run = job: "${pkgs.util-linux}/bin/flock --wait 3600 ${lockFile} ${pkgs.dash}/bin/dash ${script} ${scriptArgs} ${job}";

  auditArgs = optionalString (cfg.audit.textfile != null) " --format prometheus --output ${cfg.audit.textfile}";

  credential = name: file: optional (file != null) "${name}:${file}";
  # Credentials are files in $CREDENTIALS_DIRECTORY (%d), owned by the service user, mode 0400.
  forgeCredentials = credential "github-app.pem" cfg.githubAppKeyFile;
  forgeEnvironment = optionalAttrs (cfg.githubAppKeyFile != null) { DEPLOY_KEYS_GITHUB_APP_KEY_FILE = "%d/github-app.pem"; };

  hardening = {
    User = cfg.user;
    Group = cfg.group;
    UMask = "0077";
    StateDirectory = "deploy-keys";
    StateDirectoryMode = "0700";
    # "-": a checkout not cloned yet is no error (one under StateDirectory is writable anyway).
    ReadWritePaths = [ "-${cfg.directory}" ] ++ optional (cfg.audit.textfile != null) (dirOf cfg.audit.textfile);
    NoNewPrivileges = true;
    PrivateTmp = true;
    PrivateDevices = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    RestrictNamespaces = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    # AF_NETLINK: glibc's getaddrinfo asks the kernel for the configured address families.
    RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" "AF_NETLINK" ];
    SystemCallArchitectures = "native";
    CapabilityBoundingSet = "";
  } // optionalAttrs (cfg.environmentFile != null) { EnvironmentFile = cfg.environmentFile; };

  common = {
    wants = [ "network-online.target" ];
    after = [ "network-online.target" ];
    path = [ cfg.package pkgs.git pkgs.openssh ];
    inherit (cfg) onFailure;
    # A rotation in progress must never be stopped by a switch.
    restartIfChanged = false;
    environment = {
      HOME = stateDir;
      GIT_AUTHOR_NAME = cfg.git.authorName;
      GIT_AUTHOR_EMAIL = cfg.git.authorEmail;
    } // optionalAttrs (cfg.git.sshKeyFile != null) {
      # Pinned host keys only (never accept-new), and only this key.
      GIT_SSH_COMMAND = "ssh -i %d/git-ssh-key -o IdentitiesOnly=yes -o IdentityAgent=none -o StrictHostKeyChecking=yes -o UserKnownHostsFile=${knownHosts} -o GlobalKnownHostsFile=/dev/null";
    } // forgeEnvironment;
  };

  timer = startAt: {
    wantedBy = [ "timers.target" ];
    timerConfig = {
      OnCalendar = startAt;
      Persistent = true;
      RandomizedDelaySec = cfg.randomizedDelaySec;
    };
  };

  pathProblems = lib.concatLists (lib.mapAttrsToList
    (name: { value, check, what }: lib.optional (value != null && !check value) "${opt (lib.splitString "." name)} = ${show value}: ${what}")
    {
      directory = { value = cfg.directory; check = safePath; what = "must be an absolute path of letters, digits and ._/@+-"; };
      configFile = { value = cfg.configFile; check = safePath; what = "must be an absolute path of letters, digits and ._/@+-"; };
      "audit.textfile" = { value = cfg.audit.textfile; check = p: safePath p && lib.hasSuffix ".prom" p; what = "must be an absolute path ending in .prom (node_exporter's textfile collector reads only *.prom)"; };
      ageKeyFile = { value = cfg.ageKeyFile; check = secretPath; what = "must be an absolute path outside the Nix store (a secret there is readable by every user), e.g. a sops-nix secret's path"; };
      githubAppKeyFile = { value = cfg.githubAppKeyFile; check = secretPath; what = "must be an absolute path outside the Nix store (a secret there is readable by every user)"; };
      environmentFile = { value = cfg.environmentFile; check = secretPath; what = "must be an absolute path outside the Nix store (a secret there is readable by every user)"; };
      "git.sshKeyFile" = { value = cfg.git.sshKeyFile; check = secretPath; what = "must be an absolute path outside the Nix store (a secret there is readable by every user)"; };
    });
in
{
  options.services.deploy-keys-maintenance = {
    enable = mkEnableOption "scheduled rotation and audit of the fleet's deploy keys (nix-deploy-keys, operator side)";

    package = mkOption {
      type = types.package;
      default = pkgs.nix-deploy-keys or (pkgs.callPackage ./package.nix { nodejs = pkgs.nodejs_24; });
      defaultText = literalExpression "pkgs.nix-deploy-keys (from overlays.default), else built from this flake";
      description = "The deploy-keys command line.";
    };

    directory = mkOption {
      type = types.str;
      default = "${stateDir}/secrets";
      example = "/var/lib/deploy-keys/nix-secrets";
      description = ''
        Checkout of the secrets repository (the one holding deploy-keys.yaml,
        `.sops.yaml` and the host files). Cloned from
        {option}`services.deploy-keys-maintenance.repository` when absent;
        outside ${stateDir} it must exist and belong to
        {option}`services.deploy-keys-maintenance.user`. Keep it for the
        service alone: a run refuses a checkout with uncommitted changes.
      '';
    };

    configFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/var/lib/deploy-keys/secrets/fleet/deploy-keys.yaml";
      description = "deploy-keys.yaml, when it is not at the top of the checkout.";
    };

    repository = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "git@github.com:acme/nix-secrets.git";
      description = ''
        Git URL of the secrets repository: each run pulls from it first
        (fast-forward only; a diverged checkout fails the run) and the
        rotation pushes its commit to it. Null: nothing is pulled or pushed;
        the rotation still commits.
      '';
    };

    branch = mkOption {
      type = types.nullOr (types.strMatching "[A-Za-z0-9][A-Za-z0-9._/-]*");
      default = null;
      example = "main";
      description = "Branch to pull and push (null: the checkout's branch, or the remote's default when cloning).";
    };

    user = mkOption {
      type = types.str;
      default = "deploy-keys";
      description = ''
        User the jobs run as (created when left at the default). It owns the
        checkout; it needs no other rights on this machine.
      '';
    };

    group = mkOption {
      type = types.str;
      default = "deploy-keys";
      description = "Group of {option}`services.deploy-keys-maintenance.user`.";
    };

    ageKeyFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/deploy-keys-age";
      description = ''
        age identity (`AGE-SECRET-KEY-1…`, as in keys.txt) that decrypts the
        host files: the rotation writes new private keys into them. Given to
        the rotation only (as the systemd credential `age-identity`, read
        through `SOPS_AGE_KEY_FILE`); the audit reads public data only and
        never gets it. An absolute path outside the Nix store, e.g. a sops-nix
        secret's path. Its recipient must be in `.sops.yaml` like an operator's.
      '';
    };

    githubAppKeyFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/github-app.pem";
      description = ''
        Private key (.pem) of the GitHub App in deploy-keys.yaml's
        `forge.auth` (type app). Both jobs get it as the systemd credential
        `github-app.pem` and `DEPLOY_KEYS_GITHUB_APP_KEY_FILE` points at it,
        in place of `forge.auth.private_key_file`. The App needs Repository
        permissions → Administration: read and write (the audit only reads).
      '';
    };

    environmentFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/deploy-keys-forge.env";
      description = ''
        systemd EnvironmentFile for both jobs, for a token forge:
        `GITLAB_TOKEN=…`, `GITEA_TOKEN=…` or `GITHUB_TOKEN=…` (the variable
        that `forge.token_env` names). Outside the Nix store.
      '';
    };

    git = {
      sshKeyFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/run/secrets/nix-secrets-push";
        description = ''
          SSH private key that may push to
          {option}`services.deploy-keys-maintenance.repository` (handed over
          as the systemd credential `git-ssh-key`). The host key is pinned:
          github.com's published keys are built in, others go in
          {option}`services.deploy-keys-maintenance.git.knownHosts`. Null:
          the service user's own ssh and git configuration.
        '';
      };
      knownHosts = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "[git.example.org]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA..." ];
        description = "Pinned host keys (`known_hosts` lines) of the repository's ssh host, if it is not github.com.";
      };
      authorName = mkOption {
        type = types.str;
        default = "deploy-keys";
        description = "Author and committer name of the rotation's commits.";
      };
      authorEmail = mkOption {
        type = types.str;
        default = "deploy-keys@${config.networking.hostName}";
        defaultText = literalExpression ''"deploy-keys@''${config.networking.hostName}"'';
        description = "Author and committer email of the rotation's commits.";
      };
    };

    rotate = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Run `deploy-keys rotate --all` (keys older than
          `rotation.max_age_days`) and `rotate --finish --all` (old keys
          whose replacement was used, or after `rotation.grace_days`), then
          commit and push. Needs {option}`services.deploy-keys-maintenance.ageKeyFile`.
        '';
      };
      startAt = mkOption {
        type = types.str;
        default = "daily";
        example = "Mon *-*-* 04:00:00";
        description = "When to rotate (systemd.time(7) calendar event). Daily is cheap: a run only acts on keys that are due.";
      };
    };

    audit = {
      enable = mkOption {
        type = types.bool;
        default = true;
        description = "Run `deploy-keys audit` on its own schedule and after each successful rotation; findings fail the unit.";
      };
      startAt = mkOption {
        type = types.str;
        default = "hourly";
        description = "When to audit (systemd.time(7) calendar event).";
      };
      textfile = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/var/lib/prometheus-node-exporter/deploy-keys.prom";
        description = ''
          Write the audit as node_exporter textfile metrics
          (`deploy-keys audit --format prometheus --output FILE`, replaced
          atomically) to this file, in the directory given to node_exporter's
          `--collector.textfile.directory`. The directory must exist and be
          writable by {option}`services.deploy-keys-maintenance.user`.
        '';
      };
    };

    randomizedDelaySec = mkOption {
      type = types.str;
      default = "15m";
      description = "RandomizedDelaySec of both timers, so a fleet of operators' machines does not hit the forge at once.";
    };

    onFailure = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "notify-failure@%n.service" ];
      description = ''
        Units to start when a job fails (systemd OnFailure=): a failed
        rotation, finish, pull or push, or audit findings. `%n` names the
        failed unit.
      '';
    };
  };

  config = mkIf cfg.enable {
    assertions =
      map (message: { assertion = false; inherit message; }) pathProblems
      ++ [
        {
          assertion = !cfg.rotate.enable || cfg.ageKeyFile != null;
          message = "${opt [ "rotate" "enable" ]} = true needs ${opt [ "ageKeyFile" ]}: the rotation writes new keys into the encrypted host files (or set ${opt [ "rotate" "enable" ]} = false to audit only).";
        }
        {
          assertion = cfg.rotate.enable || cfg.audit.enable;
          message = "${opt [ "enable" ]} = true with neither ${opt [ "rotate" "enable" ]} nor ${opt [ "audit" "enable" ]}: nothing to run.";
        }
        {
          assertion = !(lib.hasPrefix "/home/" cfg.directory || lib.hasPrefix "/root/" cfg.directory);
          message = "${opt [ "directory" ]} = ${show cfg.directory}: the jobs run with ProtectHome; use a directory under ${stateDir} or elsewhere outside /home and /root.";
        }
        {
          assertion = cfg.repository == null || builtins.isAttrs repoUrl || lib.hasPrefix "https://" cfg.repository;
          message = "${opt [ "repository" ]} = ${show cfg.repository}: ${if builtins.isString repoUrl then repoUrl else ""} (use user@host:owner/repo.git, ssh://user@host[:port]/path or https://…)";
        }
        {
          assertion = cfg.git.sshKeyFile == null || (sshRepo && pins != [ ]);
          message = "${opt [ "git" "sshKeyFile" ]} is set, but "
            + (if !sshRepo then "${opt [ "repository" ]} = ${show cfg.repository} is not an ssh URL"
               else "there is no pinned host key for ${dk.knownHostsName repoUrl.host repoUrl.port}: add its known_hosts line, verified out of band, to ${opt [ "git" "knownHosts" ]}")
            + ".";
        }
        {
          assertion = cfg.group == "deploy-keys" || config.users.groups ? ${cfg.group};
          message = "${opt [ "group" ]} = ${show cfg.group}: no such group in users.groups.";
        }
        {
          assertion = cfg.user == "deploy-keys" || config.users.users ? ${cfg.user};
          message = "${opt [ "user" ]} = ${show cfg.user}: no such user in users.users; declare it, or keep the default (created by this module).";
        }
      ];

    users.users = mkIf (cfg.user == "deploy-keys") {
      deploy-keys = {
        isSystemUser = true;
        inherit (cfg) group;
        home = stateDir;
        description = "nix-deploy-keys scheduled rotation and audit";
      };
    };
    users.groups = mkIf (cfg.group == "deploy-keys") { deploy-keys = { }; };

    systemd.services.deploy-keys-rotate = mkIf cfg.rotate.enable (lib.recursiveUpdate common {
      description = "Rotate the fleet's deploy keys, commit and push (nix-deploy-keys)";
      onSuccess = optional cfg.audit.enable "deploy-keys-audit.service";
      environment.SOPS_AGE_KEY_FILE = "%d/age-identity";
      serviceConfig = hardening // {
        Type = "oneshot";
        ExecStart = run "rotate";
        LoadCredential = credential "age-identity" cfg.ageKeyFile ++ forgeCredentials ++ credential "git-ssh-key" cfg.git.sshKeyFile;
      };
    });

    systemd.services.deploy-keys-audit = mkIf cfg.audit.enable (lib.recursiveUpdate common {
      description = "Audit the fleet's deploy keys (nix-deploy-keys)";
      serviceConfig = hardening // {
        Type = "oneshot";
        ExecStart = run "audit${auditArgs}";
        # Pulls only; the push key is not needed, the age identity never given.
        LoadCredential = forgeCredentials ++ credential "git-ssh-key" cfg.git.sshKeyFile;
      };
    });

    systemd.timers.deploy-keys-rotate = mkIf cfg.rotate.enable (timer cfg.rotate.startAt);
    systemd.timers.deploy-keys-audit = mkIf cfg.audit.enable (timer cfg.audit.startAt);
  };
}
