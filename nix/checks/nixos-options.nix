# The NixOS options that nix/module.nix and sops-nix use, declared with the
# types NixOS gives them, for evaluating both modules with lib.evalModules
# without all of NixOS. Written from the NixOS manual's option reference; where
# NixOS derives something (the activation order, the users' defaults), this
# does it the same way, so a definition NixOS would reject is rejected here.
{ config, lib, pkgs, ... }:

let
  inherit (lib) mkDefault mkIf mkOption types;

  # system.activationScripts.<name>: a string, or text with the snippets it runs after.
  activationScript = types.either types.str (types.submodule {
    options = {
      deps = mkOption { type = types.listOf types.str; default = [ ]; };
      text = mkOption { type = types.lines; };
      supportsDryActivation = mkOption { type = types.bool; default = false; };
    };
  });

  # A value in a unit's [Service]/[Unit] section.
  unitValue = let atom = types.oneOf [ types.bool types.int types.str types.path types.package ]; in
    types.either atom (types.listOf atom);
  unitNames = mkOption { type = types.listOf types.str; default = [ ]; };
  lines = mkOption { type = types.lines; default = ""; };

  service = types.submodule {
    options = lib.genAttrs
      [ "wantedBy" "requiredBy" "upheldBy" "wants" "requires" "upholds" "after" "before" "bindsTo" "partOf" "conflicts" "onFailure" "onSuccess" "documentation" ]
      (_: unitNames)
    // lib.genAttrs [ "script" "preStart" "postStart" ] (_: lines)
    // {
      enable = mkOption { type = types.bool; default = true; };
      description = mkOption { type = types.str; default = ""; };
      path = mkOption { type = types.listOf (types.either types.package types.str); default = [ ]; };
      environment = mkOption { type = types.attrsOf (types.nullOr (types.oneOf [ types.str types.path types.package ])); default = { }; };
      serviceConfig = mkOption { type = types.attrsOf unitValue; default = { }; };
      unitConfig = mkOption { type = types.attrsOf unitValue; default = { }; };
      startAt = mkOption { type = types.either types.str (types.listOf types.str); default = [ ]; };
      startLimitBurst = mkOption { type = types.nullOr types.int; default = null; };
      startLimitIntervalSec = mkOption { type = types.nullOr types.int; default = null; };
      restartIfChanged = mkOption { type = types.bool; default = true; };
      stopIfChanged = mkOption { type = types.bool; default = true; };
      restartTriggers = mkOption { type = types.listOf types.unspecified; default = [ ]; };
      reloadTriggers = mkOption { type = types.listOf types.unspecified; default = [ ]; };
    };
  };

  timer = types.submodule {
    options = lib.genAttrs [ "wantedBy" "requiredBy" "wants" "requires" "after" "before" "partOf" "conflicts" "onFailure" "documentation" ] (_: unitNames) // {
      enable = mkOption { type = types.bool; default = true; };
      description = mkOption { type = types.str; default = ""; };
      timerConfig = mkOption { type = types.attrsOf unitValue; default = { }; };
      unitConfig = mkOption { type = types.attrsOf unitValue; default = { }; };
    };
  };

  # Unit files as NixOS writes them (nixos/lib/systemd-lib.nix): a [Unit]
  # section from the dependency options, description and unitConfig, then
  # the type's section (a service's environment, with PATH from `path` and
  # the default path NixOS appends, then serviceConfig), then [Install]
  # WantedBy. A list value is one line per element; booleans are true/false.
  unitValueText = v: if v == true then "true" else if v == false then "false" else toString v;
  sectionText = attrs: lib.concatStrings (lib.concatLists (lib.mapAttrsToList (k: v: map (x: "${k}=${unitValueText x}\n") (lib.toList v)) attrs));
  unitSection = u:
    lib.filterAttrs (_: v: v != "") (lib.mapAttrs (_: toString) {
      Requires = u.requires; Wants = u.wants; After = u.after; Before = u.before; PartOf = u.partOf;
      Conflicts = u.conflicts; Description = u.description; Documentation = u.documentation;
      OnFailure = u.onFailure; OnSuccess = u.onSuccess or [ ]; BindsTo = u.bindsTo or [ ];
    })
    // lib.optionalAttrs ((u.startLimitIntervalSec or null) != null) { StartLimitIntervalSec = toString u.startLimitIntervalSec; }
    // lib.optionalAttrs ((u.startLimitBurst or null) != null) { StartLimitBurst = toString u.startLimitBurst; }
    // u.unitConfig;
  unitText = u: body: "[Unit]\n${sectionText (unitSection u)}\n${body}"
    + lib.optionalString (u.wantedBy != [ ]) "\n[Install]\nWantedBy=${lib.concatStringsSep " " u.wantedBy}\n";
  defaultPath = map (n: pkgs.${n}) [ "coreutils" "findutils" "gnugrep" "gnused" "systemd" ];
  serviceText = s:
    let
      path = s.path ++ defaultPath;
      env = s.environment // { PATH = "${lib.makeBinPath path}:${lib.makeSearchPathOutput "bin" "sbin" path}"; };
    in
    unitText s ("[Service]\n"
      + lib.concatMapStrings (n: lib.optionalString (env.${n} != null) "Environment=${builtins.toJSON "${n}=${env.${n}}"}\n") (builtins.attrNames env)
      + sectionText s.serviceConfig);
  timerText = t: unitText t "[Timer]\n${sectionText t.timerConfig}";

  user = types.submodule ({ name, config, ... }: {
    options = {
      name = mkOption { type = types.passwdEntry types.str; default = name; };
      uid = mkOption { type = types.nullOr types.int; default = null; };
      group = mkOption { type = types.str; default = ""; };
      description = mkOption { type = types.str; default = ""; };
      home = mkOption { type = types.passwdEntry types.path; default = "/var/empty"; };
      createHome = mkOption { type = types.bool; default = false; };
      isNormalUser = mkOption { type = types.bool; default = false; };
      isSystemUser = mkOption { type = types.bool; default = false; };
      extraGroups = mkOption { type = types.listOf types.str; default = [ ]; };
    };
    config = mkIf config.isNormalUser {
      group = mkDefault "users";
      home = mkDefault "/home/${config.name}";
      createHome = mkDefault true;
    };
  });

  knownHost = types.submodule ({ name, ... }: {
    options = {
      certAuthority = mkOption { type = types.bool; default = false; };
      hostNames = mkOption { type = types.listOf types.str; default = [ name ]; };
      extraHostNames = mkOption { type = types.listOf types.str; default = [ ]; };
      publicKey = mkOption { type = types.nullOr types.str; default = null; };
      publicKeyFile = mkOption { type = types.nullOr types.path; default = null; };
    };
  });

  etcFile = types.submodule ({ name, ... }: {
    options = {
      enable = mkOption { type = types.bool; default = true; };
      target = mkOption { type = types.str; default = name; };
      text = mkOption { type = types.nullOr types.lines; default = null; };
      source = mkOption { type = types.nullOr types.path; default = null; };
      mode = mkOption { type = types.str; default = "symlink"; };
      user = mkOption { type = types.str; default = "+0"; };
      group = mkOption { type = types.str; default = "+0"; };
    };
  });

  systemdUsers = config.systemd.sysusers.enable || config.services.userborn.enable;
  snippets = lib.mapAttrs (_: s: if builtins.isString s then lib.noDepEntry s else s) config.system.activationScripts;
in
{
  options = {
    assertions = mkOption { type = types.listOf types.unspecified; default = [ ]; };
    warnings = mkOption { type = types.listOf types.str; default = [ ]; };

    networking.hostName = mkOption {
      type = types.strMatching "^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$";
      default = "nixos";
    };

    users.users = mkOption { type = types.attrsOf user; default = { }; };
    users.groups = mkOption {
      type = types.attrsOf (types.submodule ({ name, ... }: {
        options.name = mkOption { type = types.str; default = name; };
        options.gid = mkOption { type = types.nullOr types.int; default = null; };
      }));
      default = { };
    };
    users.mutableUsers = mkOption { type = types.bool; default = true; };
    services.userborn.enable = mkOption { type = types.bool; default = false; };
    systemd.sysusers.enable = mkOption { type = types.bool; default = false; };

    services.openssh.enable = mkOption { type = types.bool; default = false; };
    services.openssh.hostKeys = mkOption {
      type = types.listOf types.attrs;
      default = [
        { type = "rsa"; bits = 4096; path = "/etc/ssh/ssh_host_rsa_key"; }
        { type = "ed25519"; path = "/etc/ssh/ssh_host_ed25519_key"; }
      ];
    };

    programs.ssh.knownHosts = mkOption { type = types.attrsOf knownHost; default = { }; };
    programs.ssh.extraConfig = mkOption { type = types.lines; default = ""; };
    environment.etc = mkOption { type = types.attrsOf etcFile; default = { }; };
    # /etc/gitconfig, written from attribute sets of sections (the list form for
    # ordered sections is not modelled).
    programs.git.enable = mkOption { type = types.bool; default = false; };
    programs.git.config = mkOption { type = types.attrsOf (types.attrsOf types.anything); default = { }; };

    nix.settings = mkOption { type = types.submodule { freeformType = types.attrsOf types.anything; }; default = { }; };
    system.autoUpgrade.enable = mkOption { type = types.bool; default = false; };
    system.autoUpgrade.flake = mkOption { type = types.nullOr types.str; default = null; };

    systemd.services = mkOption { type = types.attrsOf service; default = { }; };
    systemd.timers = mkOption { type = types.attrsOf timer; default = { }; };

    system.activationScripts = mkOption { type = types.attrsOf activationScript; default = { }; };
    # Its presence tells sops-nix that snippets may support dry activation.
    system.dryActivationScript = mkOption { type = types.str; readOnly = true; };
    system.build = mkOption {
      type = types.submoduleWith { modules = [ { freeformType = types.lazyAttrsOf (types.uniq types.unspecified); } ]; };
      default = { };
    };
  };

  config = {
    users.users.root = { uid = 0; group = "root"; home = "/root"; };

    # The snippets NixOS itself defines that others order themselves after.
    # With systemd-sysusers or userborn, `users` stays, empty, for compatibility.
    system.activationScripts = {
      specialfs = "# mounts /run, /dev/shm …";
      users = if systemdUsers then "" else { deps = [ ]; supportsDryActivation = true; text = "# update-users-groups"; };
      groups = lib.stringAfter [ "users" ] "";
      etc = lib.stringAfter [ "users" "groups" "specialfs" ] "# links /etc to /etc/static";
    };
    environment.etc.gitconfig = mkIf (config.programs.git.enable && config.programs.git.config != { }) {
      text = lib.generators.toGitINI config.programs.git.config;
    };
    system.dryActivationScript = "";

    # The unit files NixOS would write for the enabled services and timers.
    system.build.units =
      lib.mapAttrs' (n: s: lib.nameValuePair "${n}.service" (serviceText s)) (lib.filterAttrs (_: s: s.enable) config.systemd.services)
      // lib.mapAttrs' (n: t: lib.nameValuePair "${n}.timer" (timerText t)) (lib.filterAttrs (_: t: t.enable) config.systemd.timers);

    # The order NixOS runs the snippets in (its activation script sorts them
    # with textClosureList; a missing dependency fails the same way).
    system.build.activationOrder =
      let text = n: "#### ${n}"; in
      map (t: lib.removePrefix "#### " t)
        (lib.textClosureList (lib.mapAttrs (n: s: s // { text = text n; }) snippets) (builtins.attrNames snippets));
  };
}
