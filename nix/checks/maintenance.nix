# Evaluates the operator-side module (nix/maintenance.nix) with nixpkgs'
# lib.evalModules in the typed NixOS options of ./nixos-options.nix (packages
# are stand-ins, ./pkgs.nix), and checks each scenario's result, as
# ./module.nix does for the host module.
#
#   { scenarios.<name> = { failures = [ ... ]; summary = { ... }; }; failures = [ ... ]; }
#
# `summary.units` holds the unit files NixOS would write; test/nix/ checks
# them with `systemd-analyze verify`.
{
  lib,
  # This flake's nixosModules.
  nixosModules,
}:

let
  inherit (builtins) attrNames elem filter toJSON;
  pkgs = import ./pkgs.nix { inherit lib; };

  eval = modules: lib.evalModules {
    modules = [ ./nixos-options.nix { _module.args.pkgs = pkgs; } nixosModules.maintenance ] ++ modules;
  };

  # An operator's machine: the secrets repo on GitHub, a GitHub App, a push key.
  base = {
    networking.hostName = "ops-01";
    services.deploy-keys-maintenance = {
      enable = true;
      package = pkgs.nix-deploy-keys;
      repository = "git@github.com:acme/nix-secrets.git";
      ageKeyFile = "/run/secrets/deploy-keys-age";
      githubAppKeyFile = "/run/secrets/github-app.pem";
      git.sshKeyFile = "/run/secrets/nix-secrets-push";
    };
  };

  failedAssertions = config: map (a: a.message) (filter (a: !a.assertion) config.assertions);

  summarize = { config, ... }:
    let
      unit = name: config.systemd.services.${name} or null;
      service = name: let s = unit name; in if s == null then null else {
        inherit (s) wants after onFailure onSuccess environment restartIfChanged;
        path = map toString s.path;
        serviceConfig = s.serviceConfig;
      };
    in
    {
      failedAssertions = failedAssertions config;
      rotate = service "deploy-keys-rotate";
      audit = service "deploy-keys-audit";
      timers = lib.mapAttrs (_: t: { inherit (t) wantedBy timerConfig; }) config.systemd.timers;
      users = lib.mapAttrs (_: u: { inherit (u) isSystemUser group home; }) (removeAttrs config.users.users [ "root" ]);
      groups = attrNames config.users.groups;
      inherit (config.system.build) units;
    };

  expect = what: ok: lib.optional (!ok) what;
  expectEq = what: actual: expected: lib.optional (actual != expected) "${what}: got ${toJSON actual}, want ${toJSON expected}";
  expectMatch = what: regex: s: lib.optional (builtins.match regex s == null) "${what}: ${toJSON s} does not match ${regex}";

  clean = { extra ? { }, checks }:
    let s = summarize (eval [ base extra ]); in
    {
      summary = s;
      failures = if s.failedAssertions != [ ] then map (m: "failed assertion: ${m}") s.failedAssertions else checks s;
    };

  rejected = { extra ? { }, modules ? [ base extra ], messages }:
    let got = failedAssertions (eval modules).config; in
    {
      summary = { failedAssertions = got; };
      failures = lib.concatMap
        (re: expect "an assertion matching ${re}; got ${toJSON got}" (builtins.any (m: builtins.match re m != null) got))
        messages;
    };

  cmd = "${pkgs.util-linux}/bin/flock --wait 3600 /var/lib/deploy-keys/maintenance.lock ${pkgs.dash}/bin/dash /nix/store/[a-z0-9]{32}-deploy-keys-scheduled\\.sh --dir /var/lib/deploy-keys/secrets --remote git@github\\.com:acme/nix-secrets\\.git";

  scenarios = {
    defaults = clean {
      checks = s:
        expectMatch "rotate ExecStart" "${cmd} rotate" s.rotate.serviceConfig.ExecStart
        ++ expectMatch "audit ExecStart" "${cmd} audit" s.audit.serviceConfig.ExecStart
        # The age identity goes to the rotation only; the audit reads public data.
        ++ expectEq "rotate credentials" s.rotate.serviceConfig.LoadCredential [
          "age-identity:/run/secrets/deploy-keys-age"
          "github-app.pem:/run/secrets/github-app.pem"
          "git-ssh-key:/run/secrets/nix-secrets-push"
        ]
        ++ expectEq "audit credentials" s.audit.serviceConfig.LoadCredential [ "github-app.pem:/run/secrets/github-app.pem" "git-ssh-key:/run/secrets/nix-secrets-push" ]
        ++ expectEq "rotate SOPS_AGE_KEY_FILE" s.rotate.environment.SOPS_AGE_KEY_FILE "%d/age-identity"
        ++ expect "audit has no age identity" (!(s.audit.environment ? SOPS_AGE_KEY_FILE) && !(s.audit.environment ? SOPS_AGE_KEY))
        ++ expectEq "App key" (map (x: x.environment.DEPLOY_KEYS_GITHUB_APP_KEY_FILE) [ s.rotate s.audit ]) [ "%d/github-app.pem" "%d/github-app.pem" ]
        ++ expectMatch "git ssh command" "ssh -i %d/git-ssh-key -o IdentitiesOnly=yes -o IdentityAgent=none -o StrictHostKeyChecking=yes -o UserKnownHostsFile=/nix/store/[a-z0-9]{32}-deploy-keys-maintenance-known-hosts -o GlobalKnownHostsFile=/dev/null" s.rotate.environment.GIT_SSH_COMMAND
        ++ expectEq "commit author" { inherit (s.rotate.environment) GIT_AUTHOR_NAME GIT_AUTHOR_EMAIL; } { GIT_AUTHOR_NAME = "deploy-keys"; GIT_AUTHOR_EMAIL = "deploy-keys@ops-01"; }
        ++ expectEq "audit after a successful rotation" s.rotate.onSuccess [ "deploy-keys-audit.service" ]
        ++ expect "both wait for the network" (elem "network-online.target" s.rotate.after && elem "network-online.target" s.audit.wants)
        ++ expect "a switch never stops a rotation" (!s.rotate.restartIfChanged)
        ++ expectEq "user" s.users { deploy-keys = { isSystemUser = true; group = "deploy-keys"; home = "/var/lib/deploy-keys"; }; }
        ++ expectEq "groups" (elem "deploy-keys" s.groups) true
        ++ expectEq "runs as" { inherit (s.rotate.serviceConfig) User Group UMask ProtectSystem ProtectHome; } { User = "deploy-keys"; Group = "deploy-keys"; UMask = "0077"; ProtectSystem = "strict"; ProtectHome = true; }
        ++ expectEq "timers" s.timers {
          deploy-keys-rotate = { wantedBy = [ "timers.target" ]; timerConfig = { OnCalendar = "daily"; Persistent = true; RandomizedDelaySec = "15m"; }; };
          deploy-keys-audit = { wantedBy = [ "timers.target" ]; timerConfig = { OnCalendar = "hourly"; Persistent = true; RandomizedDelaySec = "15m"; }; };
        }
        ++ expectEq "unit files" (attrNames s.units) [ "deploy-keys-audit.service" "deploy-keys-audit.timer" "deploy-keys-rotate.service" "deploy-keys-rotate.timer" ]
        ++ expectMatch "rotate unit file" ".*\nOnSuccess=deploy-keys-audit.service\n.*\nLoadCredential=age-identity:/run/secrets/deploy-keys-age\nLoadCredential=github-app.pem:.*" s.units."deploy-keys-rotate.service";
    };

    # The textfile for node_exporter; the directory is writable for the service.
    textfile = clean {
      extra.services.deploy-keys-maintenance.audit.textfile = "/var/lib/node-exporter-textfiles/deploy-keys.prom";
      checks = s:
        expectMatch "audit ExecStart" "${cmd} audit --format prometheus --output /var/lib/node-exporter-textfiles/deploy-keys\\.prom" s.audit.serviceConfig.ExecStart
        ++ expectEq "ReadWritePaths" s.audit.serviceConfig.ReadWritePaths [ "-/var/lib/deploy-keys/secrets" "/var/lib/node-exporter-textfiles" ];
    };

    # Audit only, with a token forge: no age identity needed at all.
    audit-only = clean {
      extra.services.deploy-keys-maintenance = {
        rotate.enable = false;
        ageKeyFile = lib.mkForce null;
        githubAppKeyFile = lib.mkForce null;
        environmentFile = "/run/secrets/forge.env";
        onFailure = [ "notify@%n.service" ];
      };
      checks = s:
        expectEq "rotate service" s.rotate null
        ++ expectEq "timers" (attrNames s.timers) [ "deploy-keys-audit" ]
        ++ expectEq "EnvironmentFile" s.audit.serviceConfig.EnvironmentFile "/run/secrets/forge.env"
        ++ expectEq "OnFailure" s.audit.onFailure [ "notify@%n.service" ]
        ++ expect "no App key" (!(s.audit.environment ? DEPLOY_KEYS_GITHUB_APP_KEY_FILE));
    };

    # Another forge host: its pinned key goes into the known_hosts file.
    pinned-forge = clean {
      extra.services.deploy-keys-maintenance = {
        repository = lib.mkForce "ssh://git@git.example.org:2222/srv/git/nix-secrets.git";
        git.knownHosts = [ "[git.example.org]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl" ];
        configFile = "/var/lib/deploy-keys/secrets/fleet/deploy-keys.yaml";
        branch = "main";
        user = "ops";
        group = "ops";
      };
      extra.users.users.ops = { isSystemUser = true; group = "ops"; };
      extra.users.groups.ops = { };
      checks = s:
        expectMatch "rotate ExecStart" ".* --dir /var/lib/deploy-keys/secrets --config /var/lib/deploy-keys/secrets/fleet/deploy-keys\\.yaml --remote ssh://git@git\\.example\\.org:2222/srv/git/nix-secrets\\.git --branch main rotate" s.rotate.serviceConfig.ExecStart
        ++ expectEq "declared user kept" s.users.ops or null { isSystemUser = true; group = "ops"; home = "/var/empty"; }
        ++ expect "no deploy-keys user" (!(s.users ? deploy-keys));
    };

    disabled =
      let config = (eval [ base { services.deploy-keys-maintenance.enable = lib.mkForce false; } ]).config; in
      {
        summary = { };
        failures =
          expectEq "services" (attrNames config.systemd.services) [ ]
          ++ expectEq "timers" (attrNames config.systemd.timers) [ ]
          ++ expectEq "failed assertions" (failedAssertions config) [ ];
      };

    no-age-identity = rejected {
      extra.services.deploy-keys-maintenance.ageKeyFile = lib.mkForce null;
      messages = [ "services\\.deploy-keys-maintenance\\.rotate\\.enable = true needs services\\.deploy-keys-maintenance\\.ageKeyFile.*" ];
    };

    secret-in-store = rejected {
      extra.services.deploy-keys-maintenance.ageKeyFile = lib.mkForce "${builtins.storeDir}/aaaa-keys.txt";
      messages = [ "services\\.deploy-keys-maintenance\\.ageKeyFile = \"${builtins.storeDir}/aaaa-keys\\.txt\": must be an absolute path outside the Nix store.*" ];
    };

    bad-paths = rejected {
      extra.services.deploy-keys-maintenance = {
        directory = "secrets; rm -rf /";
        audit.textfile = "/var/lib/node-exporter/deploy-keys.txt";
      };
      messages = [
        "services\\.deploy-keys-maintenance\\.directory = \"secrets; rm -rf /\": must be an absolute path.*"
        "services\\.deploy-keys-maintenance\\.audit\\.textfile = .*: must be an absolute path ending in \\.prom.*"
      ];
    };

    home-directory = rejected {
      extra.services.deploy-keys-maintenance.directory = "/home/alice/nix-secrets";
      messages = [ ".*directory = \"/home/alice/nix-secrets\": the jobs run with ProtectHome.*" ];
    };

    unpinned-push-host = rejected {
      extra.services.deploy-keys-maintenance.repository = lib.mkForce "git@git.example.org:acme/nix-secrets.git";
      messages = [ ".*git\\.sshKeyFile is set, but there is no pinned host key for git\\.example\\.org: add its known_hosts line.*" ];
    };

    bad-repository = rejected {
      extra.services.deploy-keys-maintenance.repository = lib.mkForce "github.com/acme/nix-secrets";
      messages = [ ".*repository = \"github\\.com/acme/nix-secrets\": is neither user@host:owner/repo\\.git.*" ];
    };

    undeclared-user = rejected {
      extra.services.deploy-keys-maintenance.user = "bob";
      messages = [ ".*user = \"bob\": no such user in users\\.users.*" ];
    };
  };
in
{
  inherit scenarios;
  failures = lib.concatLists (lib.mapAttrsToList (name: s: map (f: "${name}: ${f}") s.failures) scenarios);
}
