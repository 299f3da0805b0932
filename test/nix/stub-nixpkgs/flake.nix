# A stand-in for nixpkgs, to evaluate this project's flake without all of
# nixpkgs: `nix flake check --override-input nixpkgs path:<copy of this dir>`.
# The lib is nixpkgs' real lib (pinned in pins.json, which the test writes from
# test/nix/inputs.nix). The packages are derivations whose builder is the
# host's /bin/sh with the host's tools (node, npm, ...) linked into the store:
# they evaluate and instantiate like nixpkgs', and with sandboxing off they
# even build (stdenv.mkDerivation runs buildCommand, or the unpack, build,
# install and install-check phases), but with the host's Node, not nixpkgs'.
{
  outputs = { self }:
    let
      pin = builtins.fromJSON (builtins.readFile ./pins.json);
      lib = import "${builtins.fetchTarball { url = "https://github.com/${pin.owner}/${pin.repo}/archive/${pin.rev}.tar.gz"; sha256 = pin.narHash; }}/lib";
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];

      pkgsFor = system:
        let
          hostPath = "/usr/local/bin:/usr/bin:/bin";
          # The host's programs, linked into the store under <name>/bin.
          host = name: programs: derivation {
            inherit name system;
            builder = "/bin/sh";
            args = [ "-ec" ''PATH=${hostPath}; mkdir -p "$out/bin"; for p in ${toString programs}; do ln -s "$(command -v "$p")" "$out/bin/$p"; done'' ];
          } // { meta.mainProgram = builtins.head programs; };

          # Shell helpers the phases use: runHook and patchShebangs (no-ops:
          # the host has /usr/bin/env) and makeWrapper (--add-flags and
          # --prefix PATH only).
          setup = builtins.toFile "stub-stdenv-setup.sh" ''
            runHook() { :; }
            patchShebangs() { :; }
            makeWrapper() {
              wrapped=$1 wrapper=$2 flags="" prefix=""; shift 2
              while [ $# -gt 0 ]; do
                case $1 in
                  --add-flags) flags="$flags $2"; shift 2 ;;
                  --prefix) prefix="$prefix''${prefix:+:}$4"; shift 4 ;;
                  *) echo "makeWrapper: $1 not supported here" >&2; return 1 ;;
                esac
              done
              mkdir -p "$(dirname "$wrapper")"
              printf '#!/bin/sh\nPATH=%s:$PATH exec %s%s "$@"\n' "$prefix" "$wrapped" "$flags" >"$wrapper"
              chmod +x "$wrapper"
            }
          '';

          mkDerivation = { name ? "${args.pname}-${args.version}", nativeBuildInputs ? [ ], passthru ? { }, meta ? { }, env ? { }, ... }@args:
            let
              builder = ''
                export PATH=${lib.makeBinPath nativeBuildInputs}:${hostPath}
                . ${setup}
                if [ -n "''${buildCommand:-}" ]; then eval "$buildCommand"; exit; fi
                cp -r "$src/." . && chmod -R u+w .
                eval "''${buildPhase:-}"
                eval "''${installPhase:-}"
                if [ -n "''${doInstallCheck:-}" ]; then eval "''${installCheckPhase:-}"; fi
              '';
              drv = derivation (removeAttrs args [ "passthru" "meta" "env" ] // env // {
                inherit name system;
                builder = "/bin/sh";
                args = [ "-ec" builder ];
              });
            in
            drv // passthru // { inherit meta; };
          stdenv = { inherit mkDerivation; hostPlatform = lib.systems.elaborate system; buildPlatform = lib.systems.elaborate system; };

          pkgs = {
            inherit lib stdenv;
            stdenvNoCC = stdenv;
            callPackage = lib.callPackageWith pkgs;
            writeText = name: text: mkDerivation { inherit name text; passAsFile = [ "text" ]; buildCommand = ''cp "$textPath" "$out"''; };
            runCommand = name: env: buildCommand: mkDerivation (env // { inherit name buildCommand; });
            mkShell = { packages ? [ ], ... }: mkDerivation { name = "shell"; nativeBuildInputs = packages; buildCommand = "echo shell > $out"; };
            makeWrapper = host "make-wrapper" [ "true" ];
            nodejs_24 = host "nodejs-24" [ "node" "npm" ];
            age = host "age" [ "age" "age-keygen" ];
            openssh = host "openssh" [ "ssh" "ssh-keygen" ];
          } // lib.genAttrs [ "dash" "git" "just" "nixfmt" "shellcheck" "sops" "ssh-to-age" ] (name: host name [ name ]);
        in
        pkgs;
    in
    {
      inherit lib;
      legacyPackages = lib.genAttrs systems pkgsFor;
    };
}
