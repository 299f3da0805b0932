# The module test's Nix inputs, pinned as flake inputs are (revision + NAR
# hash), so `builtins.fetchTarball` downloads them where there is network and
# finds them in the store where they were added beforehand (CI, see .ci/run):
#  - sops-nix at the revision flake.lock pins;
#  - nixpkgs' lib from nix-community/nixpkgs.lib, nixpkgs' lib/ alone
#    (evaluating modules needs no packages, and CI has no copy of all of nixpkgs).
let
  lock = builtins.fromJSON (builtins.readFile ../../flake.lock);
  fetchGitHub = { owner, repo, rev, narHash, ... }: builtins.fetchTarball {
    url = "https://github.com/${owner}/${repo}/archive/${rev}.tar.gz";
    sha256 = narHash;
  };
  pins = {
    sops-nix = lock.nodes.sops-nix.locked;
    nixpkgs-lib = {
      owner = "nix-community";
      repo = "nixpkgs.lib";
      rev = "de42d44212d207476489bce163375d8306a26d59";
      narHash = "sha256-0iaTCZDEORJeWamOjfDZaoZZx686f7QO5oL3ynmj+ew=";
    };
  };
  sources = builtins.mapAttrs (_: fetchGitHub) pins;
  lib = import "${sources.nixpkgs-lib}/lib";
  sopsModule = "${sources.sops-nix}/modules/sops";
  # This flake's outputs, called as Nix would with these inputs (the outputs
  # read here need nothing else from nixpkgs).
  flake = (import ../../flake.nix).outputs {
    self = flake // { outPath = ../..; };
    nixpkgs = { inherit lib; };
    sops-nix = { nixosModules.sops = sopsModule; };
  };
in
{
  inherit pins sources lib sopsModule;
  inherit (flake) nixosModules;
}
