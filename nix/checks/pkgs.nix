# Stand-ins for the few nixpkgs packages and builders the module and sops-nix
# refer to, so the module checks need only nixpkgs' lib. Packages are never
# built: each is `{ type = "derivation"; name; outPath; }` with a made-up store
# path. Text files keep their text (as nixpkgs' writeTextFile derivations do,
# in `.text`), which is how the checks read the rendered script and the
# sops-nix manifest.
{ lib }:

let
  storePath = seed: name: "${builtins.storeDir}/${builtins.substring 0 32 (builtins.hashString "sha256" seed)}-${name}";
  package = name: {
    type = "derivation";
    inherit name;
    outPath = storePath name name;
    drvPath = storePath name "${name}.drv";
  };
  writeTextFile = { name, text, executable ? false, destination ? "", checkPhase ? "", ... }:
    package name // {
      inherit text executable destination checkPhase;
      outPath = storePath text name;
    };
  pkgs = lib.genAttrs [ "age" "coreutils" "dash" "findutils" "git" "gnugrep" "gnupg" "gnused" "nix-deploy-keys" "openssh" "sops-install-secrets" "systemd" "util-linux" ] package // {
    inherit lib writeTextFile;
    writeText = name: text: writeTextFile { inherit name text; };
    writeShellScript = name: text: writeTextFile { inherit name text; executable = true; };
    callPackage = fn: args:
      let f = if builtins.isFunction fn then fn else import fn;
      in f (builtins.intersectAttrs (builtins.functionArgs f) pkgs // args);
    stdenv = { hostPlatform = { system = "x86_64-linux"; }; buildPlatform = { system = "x86_64-linux"; }; };
  };
in
pkgs
