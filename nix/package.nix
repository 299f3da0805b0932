# The deploy-keys CLI from this source tree.
#
# package-lock.json has no `resolved` URLs (it does not name a registry), so
# nixpkgs' buildNpmPackage/fetchNpmDeps, which fetch by those URLs, would
# fetch nothing. Instead `npmDeps` is a fixed-output derivation that fetches
# each tarball the lockfile lists by name@version from npm's default registry
# (or `npmRegistry`), checks it against the lockfile's integrity, and keeps
# the registry's bytes: its hash (nix/npm-deps.json) does not depend on the
# npm version. The build then installs offline from those files.
#
# After package-lock.json changes, refresh nix/npm-deps.json with
# `node nix/fetch-npm-tarballs.mjs --update` (npm registry and nix needed);
# `npm test` fails until then, and so does this build (the fixed-output
# derivation's name carries the lockfile's tarball fingerprint).
{
  lib,
  stdenv,
  stdenvNoCC,
  writeText,
  makeWrapper,
  nodejs,
  openssh,
  git,
  # An npm registry URL; null: npm's default.
  npmRegistry ? null,
}:

let
  pkg = lib.importJSON ../package.json;
  pinned = lib.importJSON ./npm-deps.json;
  tarballs = import ./npm-tarballs.nix ../package-lock.json;

  npmEnv = {
    npm_config_update_notifier = "false";
    npm_config_audit = "false";
    npm_config_fund = "false";
  } // lib.optionalAttrs (npmRegistry != null) { npm_config_registry = npmRegistry; };

  npmDeps = stdenvNoCC.mkDerivation {
    name = "nix-deploy-keys-npm-deps-${builtins.substring 0 12 tarballs.fingerprint}";
    nativeBuildInputs = [ nodejs ];
    tarballList = builtins.toJSON tarballs.tarballs;
    passAsFile = [ "tarballList" ];
    buildCommand = ''
      export HOME=$TMPDIR npm_config_cache=$TMPDIR/npm-cache
      node ${./fetch-npm-tarballs.mjs} "$tarballListPath" "$out"
    '';
    impureEnvVars = lib.fetchers.proxyImpureEnvVars;
    outputHashMode = "recursive";
    outputHashAlgo = "sha256";
    outputHash =
      if pinned.fingerprint == tarballs.fingerprint then pinned.hash
      else throw "nix/npm-deps.json was made for another package-lock.json: run `node nix/fetch-npm-tarballs.mjs --update`";
    env = npmEnv;
  };

  lockFile = writeText "package-lock.json" (builtins.toJSON (tarballs.resolvedIn npmDeps));
in
stdenv.mkDerivation {
  pname = pkg.name;
  inherit (pkg) version;

  # What the build reads (builtins.path rather than lib.fileset, which needs Nix >= 2.14).
  src = builtins.path {
    name = "${pkg.name}-source";
    path = ../.;
    filter = path: _type:
      let rel = lib.removePrefix "${toString ../.}/" (toString path); in
      builtins.elem rel [ "package.json" "package-lock.json" "tsconfig.json" "tsconfig.build.json" "scripts" "schemas" ]
      || lib.hasPrefix "scripts/" rel || lib.hasPrefix "schemas/" rel;
  };

  nativeBuildInputs = [ nodejs makeWrapper ];
  env = npmEnv;

  buildPhase = ''
    runHook preBuild
    export HOME=$TMPDIR npm_config_cache=$TMPDIR/npm-cache
    cp ${lockFile} package-lock.json
    npm ci --offline --ignore-scripts --omit=optional
    # tsc & co. start with #!/usr/bin/env node, which the build sandbox lacks.
    patchShebangs node_modules
    npm run build
    npm prune --offline --ignore-scripts --omit=dev --omit=optional
    find node_modules -mindepth 1 -maxdepth 1 -type d -empty -delete
    # npm's record of the install names the tarballs: not a run-time dependency.
    rm node_modules/.package-lock.json
    runHook postBuild
  '';

  # What npm would publish (package.json "files"), its production
  # dependencies, and a wrapper that finds ssh, ssh-keygen and git.
  installPhase = ''
    runHook preInstall
    npm pack --offline --ignore-scripts --pack-destination "$TMPDIR"
    dest=$out/lib/node_modules/${pkg.name}
    mkdir -p "$dest"
    tar -xzf "$TMPDIR/${pkg.name}-${pkg.version}.tgz" -C "$dest" --strip-components=1
    cp -r node_modules "$dest/"
    makeWrapper ${lib.getExe nodejs} "$out/bin/deploy-keys" \
      --add-flags "$dest/${pkg.bin.deploy-keys}" \
      --prefix PATH : ${lib.makeBinPath [ openssh git ]}
    runHook postInstall
  '';

  doInstallCheck = true;
  installCheckPhase = ''
    runHook preInstallCheck
    "$out/bin/deploy-keys" --help >/dev/null
    test -f "$out/lib/node_modules/${pkg.name}/dist/scripts/lib/activation/template.sh"
    test -f "$out/lib/node_modules/${pkg.name}/schemas/audit.schema.json"
    runHook postInstallCheck
  '';

  passthru = { inherit npmDeps; };

  meta = {
    description = "Per-host read-only deploy keys for NixOS fleets, stored in SOPS";
    license = lib.licenses.mit;
    mainProgram = "deploy-keys";
    platforms = lib.platforms.unix;
  };
}
