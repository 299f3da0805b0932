{
  description = "nix-deploy-keys: per-host read-only deploy keys for NixOS fleets, stored in SOPS, installed by an activation script";

  # Users can share theirs: inputs.nix-deploy-keys.inputs.nixpkgs.follows = "nixpkgs";
  # and inputs.nix-deploy-keys.inputs.sops-nix.follows = "sops-nix".
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
  inputs.sops-nix.url = "github:Mic92/sops-nix";
  inputs.sops-nix.inputs.nixpkgs.follows = "nixpkgs";

  outputs = { self, nixpkgs, sops-nix }:
    let
      inherit (nixpkgs) lib;
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
      # The current Node.js LTS.
      deployKeys = pkgs: pkgs.callPackage ./nix/package.nix { nodejs = pkgs.nodejs_24; };
    in
    {
      # services.deploy-keys; needs sops-nix's module too. The module is
      # imported by path, so importing it twice declares it once. (Wrapped
      # in an attribute set because `nix flake check` of some Nix versions,
      # 2.8 among them, refuses a bare path: NixOS/nix#6866.)
      nixosModules.default = { imports = [ ./nix/module.nix ]; };
      nixosModules.deploy-keys = self.nixosModules.default;
      # services.deploy-keys-maintenance: the operator's side, rotation and
      # audit on a schedule (for the machine that keeps the secrets repo).
      nixosModules.maintenance = { imports = [ ./nix/maintenance.nix ]; };

      # Pure helpers (URL parsing, aliases, pins, the script renderer).
      lib = import ./nix/lib.nix;

      overlays.default = final: prev: { nix-deploy-keys = deployKeys final; };

      packages = forAllSystems (system: pkgs: {
        default = self.packages.${system}.deploy-keys;
        deploy-keys = deployKeys pkgs;
      });

      apps = forAllSystems (system: _pkgs: {
        default = self.apps.${system}.deploy-keys;
        deploy-keys = {
          type = "app";
          program = lib.getExe self.packages.${system}.deploy-keys;
          meta.description = "The deploy-keys command line";
        };
      });

      devShells = forAllSystems (_system: pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.nodejs_24
            pkgs.just
            pkgs.age
            pkgs.sops
            pkgs.ssh-to-age
            pkgs.openssh
            pkgs.git
            pkgs.shellcheck
            pkgs.dash
          ];
        };
      });

      # The NixOS modules evaluated with this nixpkgs lib (and sops-nix), in
      # every scenario of nix/checks/module.nix and nix/checks/maintenance.nix
      # (test/nix/ runs the same from `npm test`); and the package.
      checks = forAllSystems (system: pkgs:
        let
          module = import ./nix/checks/module.nix {
            inherit lib;
            sopsModule = sops-nix.nixosModules.sops;
            inherit (self) nixosModules;
          };
          maintenance = import ./nix/checks/maintenance.nix { inherit lib; inherit (self) nixosModules; };
          scenarioCheck = name: file: checked:
            if checked.failures != [ ] then throw "${file}:\n${lib.concatStringsSep "\n" checked.failures}"
            else pkgs.runCommand name { } ''
              echo "${toString (builtins.length (builtins.attrNames checked.scenarios))} scenarios of ${file} evaluated" > $out
            '';
        in
        {
          module = scenarioCheck "deploy-keys-module-checks" "nix/checks/module.nix" module;
          maintenance = scenarioCheck "deploy-keys-maintenance-checks" "nix/checks/maintenance.nix" maintenance;
          package = self.packages.${system}.deploy-keys;
        });

      formatter = forAllSystems (_system: pkgs: pkgs.nixfmt);
    };
}
