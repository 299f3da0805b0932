# Evaluates the NixOS module with nixpkgs' lib.evalModules and the real
# sops-nix module, in the typed NixOS options of ./nixos-options.nix (packages
# are stand-ins, ./pkgs.nix), and checks each scenario's result.
#
#   { scenarios.<name> = { failures = [ "what went wrong" ... ]; summary = { ... }; }; failures = [ ... ]; }
#
# `nix flake check` fails when `failures` is not empty; test/nix/ runs the same
# scenarios from `npm test` and compares the summaries with what the CLI and
# sops-install-secrets expect.
{
  lib,
  # sops-nix's NixOS module (sops-nix.nixosModules.sops).
  sopsModule,
  # This flake's nixosModules.
  nixosModules,
  # A host file and `deploy-keys activation web-01 --json` of the fleet in ./fleet.
  sopsFile ? ./fleet/sops/web-01.yaml,
  descriptionFile ? ./fleet/web-01.json,
  # `deploy-keys activation db-01 --json` of the same fleet: a host with other repos.
  dbDescriptionFile ? ./fleet/db-01.json,
}:

let
  inherit (builtins) attrNames elem filter head length listToAttrs toJSON;
  pkgs = import ./pkgs.nix { inherit lib; };

  eval = modules: lib.evalModules {
    modules = [ ./nixos-options.nix { _module.args.pkgs = pkgs; } ] ++ modules;
  };
  host = extra: eval [ sopsModule sopsKeys nixosModules.default base repoDefs extra ];

  # A host as a user would write it: sops-nix with an age key, the module on,
  # two repos (github.com, and a forge on port 2222 with its pinned key).
  sopsKeys = {
    sops.age.keyFile = "/var/lib/sops-nix/key.txt";
    # sops-nix's package is built from Go sources: a stand-in here.
    sops.package = pkgs.sops-install-secrets;
    sops.validationPackage = pkgs.sops-install-secrets;
  };
  base = {
    networking.hostName = "web-01";
    services.deploy-keys = { enable = true; inherit sopsFile; };
  };
  repoDefs.services.deploy-keys = {
    repos.nix-config.url = "git@github.com:acme/nix-config.git";
    repos.infra = { url = "ssh://git@git.example.org:2222/srv/git/infra.git"; cloneTo = "/srv/infra"; };
    knownHosts = [ "[git.example.org]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl" ];
  };
  withUser = name: extra: lib.recursiveUpdate { users.users.${name}.isNormalUser = true; services.deploy-keys.user = name; } extra;

  failedAssertions = config: map (a: a.message) (filter (a: !a.assertion) config.assertions);

  # What the checks (and test/nix/) look at, for a configuration without failed assertions.
  summarize = { config, ... }:
    let
      dk = config.services.deploy-keys;
      activation = config.system.activationScripts.deploy-keys or null;
      service = config.systemd.services.deploy-keys-clone or null;
    in
    {
      failedAssertions = failedAssertions config;
      inherit (dk) hostName user home;
      repos = lib.mapAttrs (_: r: { inherit (r) url cloneTo publicKey alias; }) dk.repos;
      script = dk.script.text;
      scriptPath = "${dk.script}";
      activation = if activation == null then null else { inherit (activation) deps text; };
      activationOrder = config.system.build.activationOrder;
      service = if service == null then null else {
        inherit (service) wantedBy wants after startLimitBurst startLimitIntervalSec;
        path = map toString service.path;
        serviceConfig = service.serviceConfig;
      };
      secrets = lib.mapAttrs (_: s: { inherit (s) name key path format mode owner group restartUnits; sopsFile = toString s.sopsFile; }) config.sops.secrets;
      # What sops-install-secrets reads (sops-nix writes it with builtins.toJSON).
      manifest = builtins.fromJSON (builtins.unsafeDiscardStringContext config.system.build.sops-nix-manifest.text);
      sopsInstallService = config.systemd.services ? sops-install-secrets;
      knownHosts = lib.mapAttrs (_: k: { inherit (k) hostNames publicKey; }) config.programs.ssh.knownHosts;
      # /etc/gitconfig as NixOS writes it (null when it writes none).
      gitconfig = if config.environment.etc ? gitconfig then config.environment.etc.gitconfig.text else null;
      nixosUpgradeAfter = config.systemd.services.nixos-upgrade.after or null;
      # The unit files NixOS would write (test/nix/ checks them with systemd-analyze).
      inherit (config.system.build) units;
    };

  # Each check: [ ] when it holds, else the message.
  expect = what: ok: lib.optional (!ok) what;
  expectEq = what: actual: expected: lib.optional (actual != expected) "${what}: got ${toJSON actual}, want ${toJSON expected}";
  expectMatch = what: regex: s: lib.optional (builtins.match regex s == null) "${what}: ${toJSON s} does not match ${regex}";
  before = order: a: b:
    let index = x: lib.lists.findFirstIndex (y: y == x) (-1) order; in
    index a >= 0 && index b > index a;

  # A configuration that must evaluate cleanly, and its checks.
  clean = { extra ? { }, modules ? null, checks }:
    let
      evaluated = if modules == null then host extra else eval modules;
      s = summarize evaluated;
    in
    {
      summary = s;
      failures = if s.failedAssertions != [ ] then map (m: "failed assertion: ${m}") s.failedAssertions else checks s;
    };

  # A configuration that must fail with an assertion matching each regex.
  rejected = { extra ? { }, modules ? null, messages }:
    let
      config = (if modules == null then host extra else eval modules).config;
      got = failedAssertions config;
    in
    {
      summary = { failedAssertions = got; };
      failures = lib.concatMap
        (re: expect "an assertion matching ${re}; got ${toJSON got}" (builtins.any (m: builtins.match re m != null) got))
        messages;
    };

  secretFor = s: user: group: repo: restartUnits: expectEq "sops.secrets.\"deploy-keys/${repo}\"" s.secrets."deploy-keys/${repo}" {
    name = "deploy-keys/${repo}";
    key = "deploy-keys/${repo}";
    path = "/run/secrets/deploy-keys/${repo}";
    format = "yaml";
    mode = "0400";
    owner = user;
    inherit group restartUnits;
    sopsFile = toString sopsFile;
  };
  byActivation = s: runner:
    if s.activation == null then [ "no activation snippet deploy-keys" ] else
    expect "activation runs after setupSecrets, users, groups and etc: deps ${toJSON s.activation.deps}, order ${toJSON s.activationOrder}"
      (lib.all (d: elem d s.activation.deps) [ "setupSecrets" "users" "groups" "etc" ]
        && before s.activationOrder "setupSecrets" "deploy-keys" && before s.activationOrder "users" "deploy-keys"
        && before s.activationOrder "etc" "deploy-keys")
    ++ expectMatch "activation text" ".*${runner}[^\n]*/bin/dash ${s.scriptPath} --keys-dir /run/secrets/deploy-keys --no-clone --quiet\n" s.activation.text;

  scenarios = {
    root = clean {
      checks = s:
        expectEq "repos in the script" (attrNames s.repos) [ "infra" "nix-config" ]
        ++ expectEq "home" s.home "/root"
        ++ expectEq "default cloneTo" s.repos.nix-config.cloneTo "/root/nix-config"
        ++ secretFor s "root" "root" "nix-config" [ ]
        ++ secretFor s "root" "root" "infra" [ ]
        ++ expectEq "manifest secrets" (map (x: x.name) s.manifest.secrets) [ "deploy-keys/infra" "deploy-keys/nix-config" ]
        ++ byActivation s "\n"
        ++ expect "no runuser for root" (builtins.match ".*runuser.*" s.activation.text == null)
        ++ expectEq "clone service ExecStart" s.service.serviceConfig.ExecStart "${pkgs.dash}/bin/dash ${s.scriptPath} --keys-dir /run/secrets/deploy-keys"
        ++ expectEq "clone service user" s.service.serviceConfig.User "root"
        ++ expect "clone service waits for the network" (elem "network-online.target" s.service.after && elem "network-online.target" s.service.wants)
        ++ expectEq "pinned host names" (lib.unique (map (k: head k.hostNames) (lib.attrValues s.knownHosts))) [ "[git.example.org]:2222" "github.com" ]
        ++ expectMatch "script header" "#!/bin/sh\n# deploy-keys activation script for host web-01, user root \\(home /root\\)\\..*" s.script
        # Root's git, whatever HOME, reads git's ssh command for the keys from /etc/gitconfig.
        ++ expectMatch "/etc/gitconfig" ".*\\[core]\n\tsshCommand = \"f=/root/\\.ssh/deploy-keys-git-ssh; .*" (toString s.gitconfig)
        ++ expectEq "nixos-upgrade.service" s.nixosUpgradeAfter null;
    };

    # autoUpgrade with a private flake: nixos-upgrade.service waits for the keys.
    auto-upgrade = clean {
      extra = { system.autoUpgrade = { enable = true; flake = "git+ssh://git@github.com/acme/nix-config"; }; };
      checks = s: expectEq "nixos-upgrade.service after" s.nixosUpgradeAfter [ "deploy-keys-clone.service" ];
    };

    # Without git's ssh command (gitSsh = false) the module leaves /etc/gitconfig alone.
    no-git-ssh = clean {
      extra = { services.deploy-keys.gitSsh = false; };
      checks = s: expectEq "/etc/gitconfig" s.gitconfig null;
    };

    non-root-user = clean {
      extra = withUser "alice" { };
      checks = s:
        expectEq "home" s.home "/home/alice"
        ++ expectEq "default cloneTo" s.repos.nix-config.cloneTo "/home/alice/nix-config"
        ++ secretFor s "alice" "users" "nix-config" [ ]
        ++ byActivation s "runuser -u alice -- [^ ]*/bin/env PATH=[^ ]* "
        ++ expectEq "clone service user" s.service.serviceConfig.User "alice"
        # alice's git reads her ~/.gitconfig, which the script writes.
        ++ expectEq "/etc/gitconfig" s.gitconfig null
        ++ expectMatch "script header" "#!/bin/sh\n# deploy-keys activation script for host web-01, user alice \\(home /home/alice\\)\\..*" s.script;
    };

    # sops-nix installs the secrets in sops-install-secrets.service, after
    # activation: no activation snippet (the keys do not exist yet), the
    # service installs them and sops-nix restarts it when one changes.
    systemd-sysusers = clean {
      extra = { systemd.sysusers.enable = true; services.deploy-keys.clone = false; };
      checks = s:
        expect "sops-install-secrets.service defined" s.sopsInstallService
        ++ expectEq "activation snippet" s.activation null
        ++ expect "no setupSecrets snippet" (!(elem "setupSecrets" s.activationOrder))
        ++ secretFor s "root" "root" "nix-config" [ "deploy-keys-clone.service" ]
        ++ expectEq "service ExecStart" s.service.serviceConfig.ExecStart "${pkgs.dash}/bin/dash ${s.scriptPath} --keys-dir /run/secrets/deploy-keys --no-clone"
        ++ expect "service after sops-install-secrets, not waiting for the network" (elem "sops-install-secrets.service" s.service.after && !(elem "network-online.target" s.service.after));
    };

    systemd-activation-option = clean {
      extra = { sops.useSystemdActivation = true; };
      checks = s:
        expectEq "activation snippet" s.activation null
        ++ secretFor s "root" "root" "infra" [ "deploy-keys-clone.service" ]
        ++ expectEq "service ExecStart" s.service.serviceConfig.ExecStart "${pkgs.dash}/bin/dash ${s.scriptPath} --keys-dir /run/secrets/deploy-keys";
    };

    userborn = clean {
      extra = withUser "alice" { services.userborn.enable = true; };
      checks = s:
        expectEq "activation snippet" s.activation null
        ++ secretFor s "alice" "users" "nix-config" [ "deploy-keys-clone.service" ]
        ++ expectEq "service user" s.service.serviceConfig.User "alice";
    };

    no-clone = clean {
      extra = { services.deploy-keys.clone = false; };
      checks = s:
        expectEq "clone service" s.service null
        ++ byActivation s "\n";
    };

    # The host file found under secretsRoot (a flake input, usually).
    secrets-root = clean {
      modules = [ sopsModule sopsKeys nixosModules.default repoDefs {
        networking.hostName = "web-01";
        services.deploy-keys = { enable = true; secretsRoot = dirOf (dirOf sopsFile); };
      } ];
      checks = s: expectEq "sopsFile" (lib.unique (lib.mapAttrsToList (_: x: x.sopsFile) s.secrets)) [ (toString sopsFile) ];
    };

    # Secrets elsewhere than /run/secrets: the script reads them from there.
    secret-paths = clean {
      extra = {
        sops.secrets."deploy-keys/nix-config".path = "/run/keys/deploy/nix-config";
        sops.secrets."deploy-keys/infra".path = "/run/keys/deploy/infra";
      };
      checks = s:
        expectMatch "activation text" ".* --keys-dir /run/keys/deploy --no-clone --quiet\n" s.activation.text
        ++ expectMatch "service ExecStart" ".* --keys-dir /run/keys/deploy" s.service.serviceConfig.ExecStart;
    };

    # Everything from `deploy-keys activation web-01 --json`: the same script.
    description-file = clean {
      modules = [ sopsModule sopsKeys nixosModules.default base { services.deploy-keys.descriptionFile = descriptionFile; } ];
      checks = s:
        let d = builtins.fromJSON (builtins.readFile descriptionFile); in
        expectEq "script" s.script ((import ../lib.nix).renderScript d)
        ++ expectEq "repos" (attrNames s.repos) (lib.sort lib.lessThan (map (r: r.name) d.repos))
        ++ expectEq "host, user, home" { inherit (s) hostName user home; } { hostName = d.host; inherit (d) user home; };
    };

    # Another host of the same fleet: only the repos deploy-keys.yaml gives it
    # (db-secrets, nix-config; not infra), so only their secrets are declared.
    description-file-per-host = clean {
      modules = [ sopsModule sopsKeys nixosModules.default base { services.deploy-keys.descriptionFile = dbDescriptionFile; } ];
      checks = s:
        let d = builtins.fromJSON (builtins.readFile dbDescriptionFile); in
        expectEq "repos" (attrNames s.repos) [ "db-secrets" "nix-config" ]
        ++ expectEq "secrets" (attrNames s.secrets) [ "deploy-keys/db-secrets" "deploy-keys/nix-config" ]
        ++ expectEq "host" s.hostName "db-01"
        ++ expectEq "script" s.script ((import ../lib.nix).renderScript d);
    };

    # Imported through both flake outputs and by path: declared once.
    imported-twice = clean {
      modules = [ sopsModule sopsKeys nixosModules.default nixosModules.deploy-keys ../module.nix base repoDefs ];
      checks = s: expectEq "repos" (attrNames s.repos) [ "infra" "nix-config" ];
    };

    # Off: nothing defined, and reading the script does not throw.
    disabled =
      let config = (host { services.deploy-keys = lib.mkForce { enable = false; }; }).config; in
      {
        summary = { script = config.services.deploy-keys.script; };
        failures =
          expectEq "script" config.services.deploy-keys.script null
          ++ expectEq "secrets" config.sops.secrets { }
          ++ expect "no activation snippet" (!(config.system.activationScripts ? deploy-keys))
          ++ expectEq "failed assertions" (failedAssertions config) [ ];
      };

    bad-url = rejected {
      extra.services.deploy-keys.repos.nix-config.url = lib.mkForce "https://github.com/acme/nix-config";
      messages = [ "services\\.deploy-keys\\.repos\\.nix-config\\.url = \"https://github\\.com/acme/nix-config\": .*is neither.*" ];
    };

    missing-pin = rejected {
      extra.services.deploy-keys.knownHosts = lib.mkForce [ ];
      messages = [ "services\\.deploy-keys\\.repos\\.infra\\.url = \"ssh://git@git\\.example\\.org:2222/srv/git/infra\\.git\": .*no pinned host key for [[]git\\.example\\.org[]]:2222.*" ];
    };

    undeclared-user = rejected {
      extra.services.deploy-keys.user = "bob";
      messages = [ "services\\.deploy-keys\\.user = \"bob\": no such user in users\\.users.*" ];
    };

    no-sops-nix = rejected {
      modules = [ nixosModules.default base repoDefs ];
      messages = [ "services\\.deploy-keys\\.enable = true needs sops-nix.*" ];
    };

    scattered-secret-paths = rejected {
      extra.sops.secrets."deploy-keys/infra".path = "/run/elsewhere/infra";
      messages = [ ".*one directory.*sops\\.secrets\\.\"deploy-keys/infra\"\\.path = \"/run/elsewhere/infra\", sops\\.secrets\\.\"deploy-keys/nix-config\"\\.path = \"/run/secrets/deploy-keys/nix-config\"" ];
    };

    description-for-another-host = rejected {
      modules = [ sopsModule sopsKeys nixosModules.default base { services.deploy-keys = { inherit descriptionFile; hostName = "db-01"; }; } ];
      messages = [ "services\\.deploy-keys\\.descriptionFile = .* describes host \"web-01\", but services\\.deploy-keys\\.hostName = \"db-01\".*" ];
    };
  };
in
{
  inherit scenarios;
  failures = lib.concatLists (lib.mapAttrsToList (name: s: map (f: "${name}: ${f}") s.failures) scenarios);
}
