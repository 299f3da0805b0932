# The registry tarballs a package-lock.json (v2/v3) installs with
# `npm ci --omit=optional`, for a lockfile without `resolved` URLs (this
# project keeps its lockfile registry-agnostic; nixpkgs' fetchNpmDeps skips
# such entries). Builtins only, so `nix-instantiate --eval` can list them
# without nixpkgs (nix/fetch-npm-tarballs.mjs --update does).
lockFile:

let
  inherit (builtins) attrNames concatStringsSep elem filter foldl' fromJSON hashString listToAttrs map readFile split;

  lock = fromJSON (readFile lockFile);
  packages = lock.packages or (throw "${toString lockFile}: lockfileVersion ${toString lock.lockfileVersion} has no `packages`; run npm install with npm >= 7");

  # Installed packages (keys under node_modules/; the others are the project
  # and its file: dependencies), except links and optional packages (platform
  # binaries). Each must carry the integrity npm checks.
  fetched = key: let p = packages.${key}; in
    builtins.match "(.*/)?node_modules/.*" key != null && !(p.link or false) && !(p.optional or false);
  keys = filter fetched (attrNames packages);

  # "node_modules/a/node_modules/@s/b" installs @s/b (or the aliased name).
  nameOf = key: let parts = split "node_modules/" key; in packages.${key}.name or (builtins.elemAt parts (builtins.length parts - 1));
  fileOf = integrity: "${hashString "sha256" integrity}.tgz";
  tarballOf = key:
    let p = packages.${key}; in
    if !(p ? integrity) then throw "${toString lockFile}: ${key} has no integrity; run npm install to complete the lockfile"
    else { spec = "${nameOf key}@${p.version}"; inherit (p) integrity; file = fileOf p.integrity; };

  unique = foldl' (acc: t: if elem t acc then acc else acc ++ [ t ]) [ ];
in
rec {
  # [ { spec = "name@version"; integrity = "sha512-..."; file = "<sha256 of integrity>.tgz"; } ], one per tarball.
  tarballs = unique (map tarballOf keys);

  # Changes exactly when the set of tarballs does (not with the package's own version).
  fingerprint = hashString "sha256" (concatStringsSep "\n" (map (t: t.integrity) tarballs));

  # The lockfile with each fetched entry resolved to its tarball in `dir`:
  # `npm ci --offline` installs from there and checks every integrity.
  resolvedIn = dir: lock // {
    packages = packages // listToAttrs (map
      (key: { name = key; value = packages.${key} // { resolved = "file:${dir}/${(tarballOf key).file}"; }; })
      keys);
  };
}
