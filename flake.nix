{
  description = "nix-deploy-keys: per-host read-only deploy keys for NixOS fleets, stored in SOPS, installed by an activation script";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";
  inputs.sops-nix.url = "github:Mic92/sops-nix";
  inputs.sops-nix.inputs.nixpkgs.follows = "nixpkgs";

  outputs = { self, nixpkgs, sops-nix }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      # services.deploy-keys; needs sops-nix's module too.
      nixosModules.default = { imports = [ ./nix/module.nix ]; };
      nixosModules.deploy-keys = self.nixosModules.default;

      # Pure helpers (URL parsing, aliases, pins, the script renderer).
      lib = import ./nix/lib.nix;

      packages = forAllSystems (pkgs: {
        default = self.packages.${pkgs.system}.deploy-keys;
        deploy-keys = pkgs.buildNpmPackage {
          pname = "nix-deploy-keys";
          version = (builtins.fromJSON (builtins.readFile ./package.json)).version;
          src = nixpkgs.lib.cleanSource ./.;
          nodejs = pkgs.nodejs_20;
          # Update with `nix build` after changing package-lock.json (prefetch-npm-deps).
          npmDepsHash = nixpkgs.lib.fakeHash;
          # The activation template is read at run time from the source tree
          # (scripts/lib/activation/template.sh), which buildNpmPackage installs
          # with the package; ssh-keygen, git and sops are needed at run time.
          nativeBuildInputs = [ pkgs.makeWrapper ];
          postInstall = ''
            wrapProgram $out/bin/deploy-keys \
              --prefix PATH : ${nixpkgs.lib.makeBinPath [ pkgs.openssh pkgs.git pkgs.age pkgs.sops ]}
          '';
          meta = {
            description = "Per-host read-only deploy keys for NixOS fleets";
            license = nixpkgs.lib.licenses.mit;
            mainProgram = "deploy-keys";
          };
        };
      });

      devShells = forAllSystems (pkgs: {
        default = pkgs.mkShell {
          packages = [
            pkgs.nodejs_20
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
    };
}
