# Builds one container image from Nix packages, with the layer grouping
# decided by the group-layers engine:
#
#   1. the requested packages are looked up by name, as Nixery does;
#   2. a derivation exports their runtime graph (exportReferencesGraph with
#      structured attributes) and runs `group-layers` on it; its JSON answer
#      (which store paths go into which layer) is read back at evaluation
#      time (import-from-derivation);
#   3. each layer is its own derivation, depending on exactly its own store
#      paths, so a layer with the same paths is the same derivation in any
#      image and is built once; a last, "customisation" layer holds the
#      symlink tree of the contents at / (bin/, etc/, lib/, ...);
#   4. the image config and the outputs are built from those layers.
#
# The result is Nixery's manifest-output.json, what Nixery's server reads:
#   { "manifest": <Docker Image Manifest V2, Schema 2>,
#     "layerLocations": { "<sha256 hex>": { "path": <blob>, "md5": <base64> } } }
# or, when packages are not found, { "error": "not_found", "pkgs": [ ... ] }.
# Its attribute `image` is the same image as a `docker load` archive,
# `layers` the layer derivations, and `contents` what the image holds (the
# packages found and `contents`: the roots of its runtime graph).
#
# Layers are uncompressed tarballs (application/vnd.docker.image.rootfs.diff.tar):
# a layer's digest is the sha256 of its tar, which is also its diff_id.
{
  # The package set that provides the tools (tar, jq, ...) and, unless
  # `pkgSource` names another one, the packages.
  pkgs,
  # The group-layers engine, a derivation with bin/group-layers
  # (./default.nix builds it).
  groupLayers,
  # The image's name (registry repository, e.g. "bash/curl"). Default: the
  # requested package names, sorted, lower-cased and joined by "/", as
  # Nixery names its images; "image" if none were requested.
  name ? null,
  # The tag in the `image` archive's RepoTags. Default: the hash part of the
  # image config's store path, so that it changes with the image.
  tag ? null,
  # Packages to put in the image, by attribute name, as a JSON array in a
  # string (as a server passes it): '["bash", "python3Packages.requests"]',
  # or as a Nix list of strings.
  # Dotted names select nested attributes; a top-level name that is not found
  # is tried again case-insensitively (registries forbid upper case in image
  # names, while nixpkgs has `haskellPackages` and the like).
  packages ? "[]",
  # Further contents, for Nix callers: derivations, or store paths as strings
  # that carry their string context ("${drv}").
  contents ? [ ],
  # Most layers in the image, the customisation layer included (Docker's
  # storage allows 125; some room is left for images built on top of this
  # one). An integer, or a string of one.
  maxLayers ? 96,
  # Where the packages are looked up: "nixpkgs!<channel or commit>" (a nixpkgs
  # tarball from GitHub), "git!<url>!<rev or ref>" (a nixpkgs git checkout),
  # "path!<dir>" (a nixpkgs folder). Default: `pkgs`, so nothing is
  # downloaded and images work offline and inside NixOS configurations.
  pkgSource ? null,
  # Popularity data for the engine (Nixery's format: package name -> count,
  # as `group-layers popcount` or `nix-build -A popularity` make it): a path,
  # a derivation, { url; hash; } (fetched with pkgs.fetchurl), or an absolute
  # file name as a string (as --argstr gives it); see ./popularity.nix.
  # Default: none; nothing is downloaded.
  popularity ? null,
  # The image's runtime configuration (Cmd, Entrypoint, Env, WorkingDir, User,
  # ExposedPorts, Labels, ...), as an attribute set or a JSON string.
  # PATH=/bin is added to Env unless Env sets PATH.
  config ? { },
  # Shell commands run in the customisation layer's folder before it is
  # packed (e.g. "mkdir -p tmp && chmod 1777 tmp").
  extraCommands ? "",
  # Owner (numeric user and group id) of the customisation layer's files;
  # store paths always belong to root. Integers, or strings of them.
  uid ? 0,
  gid ? 0,
}:

let
  inherit (pkgs) lib;
  inherit (builtins)
    appendContext
    fromJSON
    toJSON
    ;

  int = v: if builtins.isString v then lib.toInt v else v;
  # One layer stays free for the customisation layer.
  layerBudget =
    if int maxLayers >= 2 then
      int maxLayers - 1
    else
      throw "group-layers: maxLayers is ${toString maxLayers}, it must be at least 2";

  # Package lookup --------------------------------------------------------

  system = pkgs.stdenv.hostPlatform.system;

  pkgSet =
    let
      spec = lib.splitString "!" pkgSource;
      kind = builtins.head spec;
      arg = builtins.elemAt spec;
      # The packages are for the system the tools run on.
      importArgs = {
        inherit system;
      };
      isCommit = rev: builtins.match "[0-9a-f]{40}" rev != null;
    in
    if pkgSource == null then
      pkgs
    else if kind == "nixpkgs" && builtins.length spec == 2 then
      import (builtins.fetchTarball "https://github.com/NixOS/nixpkgs/archive/${arg 1}.tar.gz") importArgs
    else if kind == "git" && builtins.length spec == 3 then
      import (builtins.fetchGit (
        {
          url = arg 1;
        }
        // (if isCommit (arg 2) then { rev = arg 2; } else { ref = arg 2; })
      )) importArgs
    else if kind == "path" && builtins.length spec == 2 then
      import (/. + arg 1) importArgs
    else
      throw "group-layers: pkgSource '${pkgSource}' is none of nixpkgs!<channel>, git!<url>!<rev>, path!<dir>";

  # Top-level attribute names by their lower-case spelling, for the second,
  # case-insensitive try. Built only when a name is not found as given.
  topLevelByLowerCase = lib.listToAttrs (
    map (attrName: lib.nameValuePair (lib.toLower attrName) attrName) (builtins.attrNames pkgSet)
  );

  # The derivation named `pkgName`, or null (also for names that are not
  # derivations, or whose evaluation throws, as nixpkgs' removed aliases do).
  lookup =
    pkgName:
    let
      attrPath = lib.splitString "." pkgName;
      exact = lib.attrByPath attrPath null pkgSet;
      topName = topLevelByLowerCase.${lib.toLower (builtins.head attrPath)} or null;
      found =
        if exact != null || topName == null then
          exact
        else
          lib.attrByPath ([ topName ] ++ builtins.tail attrPath) null pkgSet;
      usable = builtins.tryEval (lib.isDerivation found);
    in
    if usable.success && usable.value then found else null;

  pkgNames =
    let
      names = if builtins.isString packages then fromJSON packages else packages;
    in
    if builtins.isList names && builtins.all builtins.isString names then
      names
    else
      throw "group-layers: packages must be a JSON array of attribute names, such as '[\"bash\",\"curl\"]'";
  # pkgSet is forced outside lookup's tryEval: a bad pkgSource is an error,
  # not a list of unknown packages.
  found = builtins.seq pkgSet (map lookup pkgNames);
  notFound = lib.concatLists (lib.zipListsWith (n: d: lib.optional (d == null) n) pkgNames found);
  allContents = lib.toList contents ++ builtins.filter (d: d != null) found;

  imageName =
    if name != null then
      name
    else if pkgNames != [ ] then
      lib.toLower (lib.concatStringsSep "/" (builtins.sort builtins.lessThan pkgNames))
    else
      "image";
  # A store-path-safe form of the name, for derivation names.
  drvName = builtins.replaceStrings [ "/" ":" ] [ "-" "-" ] imageName;

  # Layer grouping ----------------------------------------------------------

  popularityFile = (import ./popularity.nix { inherit pkgs groupLayers; }).file popularity;

  # The engine's answer: [ { contents = [ "/nix/store/..." ... ]; ... } ... ],
  # every store path of the contents' closure in exactly one layer. readFile
  # gives the text the context of the store paths it names, which fromJSON
  # refuses; the context is dropped here and given back to each layer, with
  # exactly its own paths, by `storeLayer`.
  groups =
    if allContents == [ ] then
      [ ]
    else
      fromJSON (
        builtins.unsafeDiscardStringContext (builtins.readFile (
          pkgs.runCommand "${drvName}-layer-groups.json"
            {
              __structuredAttrs = true;
              exportReferencesGraph.graph = allContents;
            }
            ''
              # Nix 2.8 writes .attrs.json in the build folder, current Nix
              # names it in $NIX_ATTRS_JSON_FILE.
              ${groupLayers}/bin/group-layers \
                --graph "''${NIX_ATTRS_JSON_FILE:-$NIX_BUILD_TOP/.attrs.json}" \
                ${lib.optionalString (popularityFile != null) "--pop ${popularityFile}"} \
                --budget ${toString layerBudget} \
                --out groups.json
              cp groups.json "$out"
            ''
        ))
      );

  # Layers --------------------------------------------------------------------
  #
  # Each layer derivation's output is a folder with `layer.tar` and `sha256`
  # (the tar's digest in hex). The tarballs are reproducible: names sorted,
  # mtime 1 (1970-01-01T00:00:01Z), owner and group numeric, hard links stored
  # as files, the GNU format.

  tarFlags = "--format=gnu --sort=name --mtime=@1 --numeric-owner --hard-dereference";

  # The folders above the store, relative: [ "nix" "nix/store" ].
  storeDirs =
    let
      parts = builtins.filter (p: p != "") (lib.splitString "/" builtins.storeDir);
    in
    builtins.genList (i: lib.concatStringsSep "/" (lib.take (i + 1) parts)) (builtins.length parts);

  # "/nix/store/<hash>-hello-2.12" -> "hello-2.12"
  packageName = storePath: builtins.substring 33 (-1) (baseNameOf storePath);

  # The layer of these store paths. The paths come from the engine's JSON
  # without string context; appendContext gives the derivation a real
  # dependency on each one, so that it is built (or substituted) first and a
  # sandboxed builder sees it.
  storeLayer =
    paths:
    let
      sorted = builtins.sort builtins.lessThan paths;
      count = builtins.length sorted;
      members = map (p: lib.removePrefix "/" (appendContext p { ${p}.path = true; })) sorted;
    in
    pkgs.runCommand
      (
        "layer-${builtins.substring 0 120 (packageName (builtins.head sorted))}"
        + lib.optionalString (count > 1) "-and-${toString (count - 1)}-more"
      )
      {
        nativeBuildInputs = [
          pkgs.coreutils
          pkgs.gnutar
        ];
      }
      ''
        mkdir -p ${builtins.concatStringsSep " " storeDirs}
        chmod 0755 ${builtins.concatStringsSep " " storeDirs}
        mkdir "$out"
        tar --create --file "$out/layer.tar" ${tarFlags} --owner=0 --group=0 \
          --no-recursion ${builtins.concatStringsSep " " storeDirs}
        tar --append --file "$out/layer.tar" ${tarFlags} --owner=0 --group=0 \
          --directory / ${lib.escapeShellArgs members}
        sha256sum "$out/layer.tar" | cut -d ' ' -f 1 > "$out/sha256"
      '';

  customisationLayer =
    pkgs.runCommand "${drvName}-customisation-layer"
      {
        nativeBuildInputs = [
          pkgs.coreutils
          pkgs.findutils
          pkgs.gnutar
        ];
      }
      ''
        mkdir layer
        cp -R --no-preserve=mode,ownership ${
          pkgs.symlinkJoin {
            name = "${drvName}-contents";
            paths = allContents;
          }
        }/. layer/
        (
          cd layer
          ${extraCommands}
        )
        (cd layer && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort) > members
        mkdir "$out"
        tar --create --file "$out/layer.tar" ${tarFlags} \
          --owner=${toString (int uid)} --group=${toString (int gid)} \
          --directory layer --verbatim-files-from --files-from members
        sha256sum "$out/layer.tar" | cut -d ' ' -f 1 > "$out/sha256"
      '';

  # [ { drv; comment; } ... ], bottom layer first.
  layers =
    map (group: {
      drv = storeLayer group.contents;
      comment = "store paths: " + lib.concatMapStringsSep " " packageName group.contents;
    }) groups
    ++ [
      {
        drv = customisationLayer;
        comment = "customisation layer";
      }
    ];
  layerDrvs = map (l: l.drv) layers;

  # Image config ------------------------------------------------------------

  created = "1970-01-01T00:00:01Z";

  # Container image platforms use Go's architecture names.
  architecture =
    let
      cpu = builtins.head (lib.splitString "-" system);
      goArch = {
        x86_64 = "amd64";
        i686 = "386";
        aarch64 = "arm64";
        armv6l = "arm";
        armv7l = "arm";
        powerpc64le = "ppc64le";
        riscv64 = "riscv64";
        s390x = "s390x";
        loongarch64 = "loong64";
      };
    in
    goArch.${cpu} or (throw "group-layers: no container architecture known for system ${system}");

  runtimeConfig =
    let
      given = if builtins.isString config then fromJSON config else config;
      env = given.Env or [ ];
    in
    given
    // {
      Env = lib.optional (!builtins.any (lib.hasPrefix "PATH=") env) "PATH=/bin" ++ env;
    };

  # Everything but rootfs.diff_ids, which the layers' builds tell.
  configWithoutDiffIds = pkgs.writeText "${drvName}-config-base.json" (toJSON {
    inherit architecture created;
    os = "linux";
    config = runtimeConfig;
    rootfs.type = "layers";
    history = map (l: {
      inherit created;
      created_by = "group-layers";
      inherit (l) comment;
    }) layers;
  });

  imageConfig = pkgs.runCommand "${drvName}-config.json" { nativeBuildInputs = [ pkgs.jq ]; } ''
    for layer in ${toString layerDrvs}; do
      printf '"sha256:%s"\n' "$(cat "$layer/sha256")"
    done > diff-ids
    jq --compact-output --sort-keys --slurpfile ids diff-ids \
      '.rootfs.diff_ids = $ids' ${configWithoutDiffIds} > "$out"
  '';

  # Outputs ---------------------------------------------------------------------

  manifestOutput =
    pkgs.runCommand "manifest-output.json"
      {
        nativeBuildInputs = [
          pkgs.coreutils
          pkgs.jq
          pkgs.openssl
        ];
      }
      ''
        # describe FILE SHA256: the blob as a JSON object
        describe() {
          jq --null-input --compact-output --arg path "$1" --arg sha256 "$2" \
            --argjson size "$(stat -c %s "$1")" \
            --arg md5 "$(openssl dgst -md5 -binary "$1" | openssl base64)" \
            '{$path, $sha256, $size, $md5}'
        }
        describe ${imageConfig} "$(sha256sum ${imageConfig} | cut -d ' ' -f 1)" > config
        for layer in ${toString layerDrvs}; do
          describe "$layer/layer.tar" "$(cat "$layer/sha256")"
        done > layers
        jq --null-input --compact-output --sort-keys \
          --slurpfile config config --slurpfile layers layers '
          {
            manifest: {
              schemaVersion: 2,
              mediaType: "application/vnd.docker.distribution.manifest.v2+json",
              config: {
                mediaType: "application/vnd.docker.container.image.v1+json",
                size: $config[0].size,
                digest: ("sha256:" + $config[0].sha256)
              },
              layers: [$layers[] | {
                mediaType: "application/vnd.docker.image.rootfs.diff.tar",
                size,
                digest: ("sha256:" + .sha256)
              }]
            },
            layerLocations: ($config + $layers
              | map({key: .sha256, value: {path, md5}}) | from_entries)
          }' > "$out"
      '';

  imageTag =
    if tag != null then tag else builtins.substring 0 32 (baseNameOf imageConfig.outPath);

  # The `docker load` archive: manifest.json, the config as <sha256>.json and
  # each layer as <sha256>/layer.tar. Its attributes imageName and imageTag
  # give its RepoTags entry, as those of dockerTools' images do.
  image =
    (pkgs.runCommand "${drvName}.tar"
      {
        nativeBuildInputs = [
          pkgs.coreutils
          pkgs.findutils
          pkgs.gnutar
          pkgs.jq
        ];
      }
      ''
        mkdir image
        configName="$(sha256sum ${imageConfig} | cut -d ' ' -f 1).json"
        ln -s ${imageConfig} "image/$configName"
        for layer in ${toString layerDrvs}; do
          digest=$(cat "$layer/sha256")
          mkdir -p "image/$digest"
          ln -sf "$layer/layer.tar" "image/$digest/layer.tar"
          printf '"%s/layer.tar"\n' "$digest"
        done > layer-names
        jq --null-input --compact-output --arg config "$configName" \
          --arg repoTag ${lib.escapeShellArg "${imageName}:${imageTag}"} \
          --slurpfile layers layer-names \
          '[{Config: $config, RepoTags: [$repoTag], Layers: $layers}]' > image/manifest.json
        (cd image && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort) > members
        tar --create --file "$out" ${tarFlags} --owner=0 --group=0 --dereference \
          --directory image --verbatim-files-from --files-from members
      ''
    )
    // {
      inherit imageName imageTag;
    };

  notFoundMessage = "group-layers: packages not found in the package set: ${lib.concatStringsSep ", " notFound}";
in
if notFound == [ ] then
  manifestOutput
  // {
    inherit image;
    layers = layerDrvs;
    contents = allContents;
  }
else
  pkgs.writeText "manifest-output.json" (toJSON {
    error = "not_found";
    pkgs = notFound;
  })
  // {
    image = throw notFoundMessage;
    layers = throw notFoundMessage;
    contents = throw notFoundMessage;
  }
