# Evaluates nix/module.nix without nixpkgs: a stub `lib` (just what the
# module uses, mkIf/mkMerge kept as plain markers), stub `pkgs` whose
# writeText forces the rendered script, and a hand-made `config` holding the
# option values. Checks that the module's config section evaluates and shows
# what it defines. Not a NixOS evaluation: option types are not checked.
{ cfg, sopsImported ? true, setupSecrets ? true }:
let
  b = builtins;
  lib = rec {
    mkOption = o: o;
    mkEnableOption = d: { default = false; description = d; };
    mkIf = condition: content: { _type = "if"; inherit condition content; };
    mkMerge = contents: { _type = "merge"; inherit contents; };
    literalExpression = text: { _type = "literalExpression"; inherit text; };
    types = {
      str = "str"; path = "path"; bool = "bool"; package = "package";
      ints.positive = "int";
      nullOr = t: "nullOr"; either = a: c: "either"; listOf = t: "listOf"; attrsOf = t: "attrsOf";
      submodule = m: "submodule";
    };
    mapAttrsToList = f: s: map (n: f n s.${n}) (b.attrNames s);
    unique = b.foldl' (acc: x: if b.elem x acc then acc else acc ++ [ x ]) [ ];
    concatMap = f: l: b.concatLists (map f l);
    inherit (b) filter;
    optional = c: x: if c then [ x ] else [ ];
    optionalAttrs = c: s: if c then s else { };
    optionalString = c: s: if c then s else "";
    mapAttrs' = f: s: b.listToAttrs (mapAttrsToList f s);
    nameValuePair = name: value: { inherit name value; };
    makeBinPath = ps: b.concatStringsSep ":" (map (p: "${p}/bin") ps);
  };
  pkgs = {
    writeText = name: text: b.seq (b.stringLength text) "/nix/store/00000000000000000000000000000000-${name}";
    openssh = "/nix/store/openssh"; git = "/nix/store/git"; coreutils = "/nix/store/coreutils";
    dash = "/nix/store/dash"; util-linux = "/nix/store/util-linux";
  };
  config = {
    services.deploy-keys = cfg;
    networking.hostName = cfg.hostName;
    users.users.root.home = "/root";
    users.users.alice.home = "/home/alice";
    sops.defaultSymlinkPath = "/run/secrets";
    system.activationScripts = if setupSecrets then { setupSecrets = "…"; } else { };
  };
  options = if sopsImported then { sops.secrets = { }; } else { };
  m = import ../../nix/module.nix { inherit config lib pkgs options; };
  parts = m.config.content.contents;
  first = b.elemAt parts 0;
  second = b.elemAt parts 1;
in
{
  enabled = m.config.condition;
  failedAssertions = map (a: a.message) (b.filter (a: !a.assertion) first.assertions);
  activation = first.system.activationScripts.deploy-keys;
  service = first.systemd.services.deploy-keys-clone.content;
  serviceEnabled = first.systemd.services.deploy-keys-clone.condition;
  knownHosts = first.programs.ssh.knownHosts.content;
  sopsSecrets = if second ? sops then second.sops.secrets.content else null;
  optionNames = b.attrNames m.options.services.deploy-keys;
  # Defaults that depend on other options (read with `.defaults`; lazy).
  defaults = {
    repos = m.options.services.deploy-keys.repos.default;
    knownHosts = m.options.services.deploy-keys.knownHosts.default;
    sopsFile = m.options.services.deploy-keys.sopsFile.default;
  };
}
