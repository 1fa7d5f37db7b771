# Builds one container image from Nix packages, with the layer grouping
# decided by the group-layers engine:
#
#   0. the arguments are checked (./check-args.nix);
#   1. the requested packages are looked up by name, as Nixery does;
#   2. a derivation exports their runtime graph (exportReferencesGraph with
#      structured attributes) and runs `group-layers` on it; its JSON answer
#      (which store paths go into which layer) is read back at evaluation
#      time (import-from-derivation);
#   3. each layer is its own derivation, depending on exactly its own store
#      paths and a few tools (./layer.sh), so a layer with the same paths is
#      the same derivation in any image and is built once; it records the
#      layer's digests, computed once, there; a last, "customisation" layer
#      holds the symlink tree of the contents at / (bin/, etc/, lib/, ...);
#   4. the image config and the outputs are built from those layers' records
#      (./imagetools), never reading a layer again.
#
# With groupAtBuildTime = true, steps 2 and 3 are one derivation (no
# import-from-derivation; no layer shared between images).
#
# The result is Nixery's manifest-output.json, what Nixery's server reads:
#   { "manifest": <Docker Image Manifest V2, Schema 2, or OCI for zstd>,
#     "layerLocations": { "<sha256 hex>": { "path": <blob>, "md5": <base64> } } }
# or, when packages are not found, { "error": "not_found", "pkgs": [ ... ] };
# when the package set refuses some it has (unfree, broken, insecure, for
# another system, as nixpkgs' meta checks say), { "error": "unavailable",
# "pkgs": [ ... ], "reasons": { "<package>": "<why>" } }.
# Its attributes:
#   stream    an executable writing the image as a `docker load` archive to
#             stdout, packing the layers from the store paths as it goes: the
#             store holds only the layers' digests (./imagetools/stream.py);
#   image     that archive, stored (the stream's output, byte for byte);
#   layers    the layer derivations of the manifest (blobs kept);
#   contents  what the image holds (the packages found and `contents`: the
#             roots of its runtime graph);
#   notFound  the requested names not found;
#   refused   { <requested name> = <why>; } for those refused.
#
# A layer's diff_id is the sha256 of its uncompressed tar; with compression,
# the manifest's layers are the compressed blobs.
{
  # The package set that provides the packages, unless `pkgSource` names
  # another one, and builds the engine's grouping and the customisation layer.
  pkgs,
  # The package set the layers, config, manifest and stream take their few
  # tools from (bash, coreutils, gnutar, gzip, zstd, python3). Pin it to a
  # package set that changes rarely and a nixpkgs update of `pkgs` rebuilds
  # no layer (see README, "Layers that survive a toolchain bump").
  tools ? pkgs,
  # The group-layers engine, a derivation with bin/group-layers
  # (./default.nix builds it).
  groupLayers,
  # The image's name (registry repository, e.g. "bash/curl"): lower case,
  # at most 255 characters, as OCI references require. Default: the
  # requested package names, sorted, lower-cased and joined by "/", as
  # Nixery names its images; "image" if none were requested.
  name ? null,
  # The tag in the `image` archive's RepoTags ([A-Za-z0-9_][A-Za-z0-9._-]*,
  # at most 128). Default: the hash part of the image config's store path,
  # so that it changes with the image.
  tag ? null,
  # Packages to put in the image, by attribute name, as a JSON array in a
  # string (as a server passes it): '["bash", "python3Packages.requests"]',
  # or as a Nix list of strings.
  # A name is first tried as one top-level attribute ("guile-3.0"), then
  # split on its dots into an attribute path; quotes keep dots in a
  # component ('python3Packages."zope.interface"'). A top-level name that is
  # not found is tried again case-insensitively (registries forbid upper case
  # in image names, while nixpkgs has `haskellPackages` and the like).
  packages ? "[]",
  # Further contents, for Nix callers: derivations, or store paths as strings
  # that carry their string context ("${drv}").
  contents ? [ ],
  # Most layers in the image, the customisation layer included (Docker's
  # storage allows 125; some room is left for images built on top of this
  # one). An integer, or a string of one.
  maxLayers ? 96,
  # Where the packages are looked up: "nixpkgs!<channel or commit>" (a nixpkgs
  # tarball from GitHub; "nixpkgs!<commit>!<sha256>" with the hash of the
  # unpacked tarball), "git!<url>!<rev or ref>" (a nixpkgs git checkout),
  # "path!<dir>" (a nixpkgs folder). Default: `pkgs`, so nothing is
  # downloaded and images work offline and inside NixOS configurations. Pure
  # evaluation (flakes) takes only the pinned forms, nixpkgs!<commit>!<sha256>
  # and git!<url>!<commit>.
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
  # Owner (numeric user and group id, 0 to 4294967294) of the customisation
  # layer's files; store paths always belong to root. Integers, or strings
  # of them.
  uid ? 0,
  gid ? 0,
  # The layers' compression in the registry manifest (manifest-output.json,
  # push): "none", "gzip" (Docker's tar.gzip media type) or "zstd" (an OCI
  # manifest, tar+zstd). Fixed levels and no names or times in the headers,
  # so the blobs are reproducible. diff_ids are always those of the
  # uncompressed tars; the stream and the archive are uncompressed.
  compression ? "none",
  # Group and build the layers in one derivation at build time instead of
  # reading the grouping back at evaluation time: no import-from-derivation
  # (for allow-import-from-derivation = false, Hydra, cross-system
  # evaluation), the same layers and digests, but no layer derivation shared
  # between images.
  groupAtBuildTime ? false,
}:

let
  inherit (pkgs) lib;
  inherit (builtins)
    appendContext
    fromJSON
    toJSON
    ;

  # The arguments, checked (./check-args.nix): one error naming a bad one.
  checks = import ./check-args.nix { inherit lib; };
  checked = checks.check "group-layers" {
    inherit name tag packages maxLayers config uid gid pkgSource;
  };
  # One layer stays free for the customisation layer.
  layerBudget = checked.maxLayers - 1;

  # Package lookup --------------------------------------------------------

  system = pkgs.stdenv.hostPlatform.system;

  compressionChecked =
    if builtins.elem compression [ "none" "gzip" "zstd" ] then
      compression
    else
      throw "group-layers: compression is '${toString compression}', it must be none, gzip or zstd";

  pkgSet =
    let
      spec = checked.pkgSource;
      kind = builtins.head spec;
      arg = builtins.elemAt spec;
      # The packages are for the system the tools run on.
      importArgs = {
        inherit system;
      };
    in
    if spec == null then
      pkgs
    else if kind == "nixpkgs" then
      import (builtins.fetchTarball (
        {
          url = "https://github.com/NixOS/nixpkgs/archive/${arg 1}.tar.gz";
        }
        // lib.optionalAttrs (builtins.length spec == 3) { sha256 = arg 2; }
      )) importArgs
    else if kind == "git" then
      import (builtins.fetchGit (
        {
          url = arg 1;
        }
        // (if checks.isCommit (arg 2) then { rev = arg 2; } else { ref = arg 2; })
      )) importArgs
    else
      import (/. + arg 1) importArgs;

  # Top-level attribute names by their lower-case spelling, for the second,
  # case-insensitive try. Built only when a name is not found as given.
  topLevelByLowerCase = lib.listToAttrs (
    map (attrName: lib.nameValuePair (lib.toLower attrName) attrName) (builtins.attrNames pkgSet)
  );

  # The attribute path a name stands for: the whole name as one top-level
  # attribute when the package set has one ("guile-3.0"), else the name split
  # on the dots outside double quotes ("python3Packages.requests",
  # "\"guile-3.0\".out"); null when its quotes don't pair up.
  attrPathOf =
    pkgName:
    let
      pieces = builtins.split ''("[^"]*"|[^".]+)'' pkgName;
      parts = map (m: lib.removePrefix "\"" (lib.removeSuffix "\"" (builtins.head m))) (
        builtins.filter builtins.isList pieces
      );
      dots = builtins.genList (_: ".") (builtins.length parts - 1);
    in
    if pkgSet ? ${pkgName} then
      [ pkgName ]
    else if parts != [ ] && builtins.filter builtins.isString pieces == [ "" ] ++ dots ++ [ "" ] then
      parts
    else
      null;

  # The derivation named `pkgName`, or null (also for names that are not
  # derivations, or whose evaluation throws, as nixpkgs' removed aliases do).
  lookup =
    pkgName:
    let
      attrPath = attrPathOf pkgName;
      exact = if attrPath == null then null else lib.attrByPath attrPath null pkgSet;
      topName = topLevelByLowerCase.${lib.toLower (builtins.head attrPath)} or null;
      found =
        if exact != null || attrPath == null || topName == null then
          exact
        else
          lib.attrByPath ([ topName ] ++ builtins.tail attrPath) null pkgSet;
      usable = builtins.tryEval (lib.isDerivation found);
    in
    if usable.success && usable.value then found else null;

  pkgNames = checked.packages;
  # pkgSet is forced outside lookup's tryEval: a bad pkgSource is an error,
  # not a list of unknown packages.
  found = builtins.seq pkgSet (map lookup pkgNames);
  notFound = lib.concatLists (lib.zipListsWith (n: d: lib.optional (d == null) n) pkgNames found);

  # Why nixpkgs refuses a package it has, or null: its meta checks (an
  # unfree license, another system, meta.knownVulnerabilities, meta.broken,
  # in the order nixpkgs' check-meta.nix tries them) unless its config allows
  # it. The derivation's drvPath would throw nixpkgs' long message at the
  # first build step; meta.available says it beforehand, and the flags say why.
  refusal =
    drv:
    let
      meta = drv.meta or { };
      available = builtins.tryEval (meta.available or true);
      because = flag: (builtins.tryEval (meta.${flag} or false)).value == true;
    in
    if !available.success || available.value then
      null
    else if because "unfree" then
      "it has an unfree license (nixpkgs allows it with config.allowUnfree = true)"
    else if because "unsupported" then
      "it is not available on ${system} (nixpkgs allows it with config.allowUnsupportedSystem = true)"
    else if because "insecure" then
      "it is marked as insecure (nixpkgs allows it with config.permittedInsecurePackages = [ \"${drv.name}\" ])"
    else if because "broken" then
      "it is marked as broken (nixpkgs allows it with config.allowBroken = true)"
    else
      "nixpkgs refuses it (its meta.available is false)";
  # { <requested name> = <why>; } for the packages found but refused.
  refused = lib.listToAttrs (
    lib.concatLists (
      lib.zipListsWith (
        n: d:
        let
          why = if d == null then null else refusal d;
        in
        lib.optional (why != null) (lib.nameValuePair n why)
      ) pkgNames found
    )
  );
  allContents = lib.toList contents ++ builtins.filter (d: d != null) found;

  imageName = checked.name;
  # A store-path-safe form of the name, for derivation names.
  inherit (checked) drvName;

  # Layer grouping ----------------------------------------------------------

  popularityFile = (import ./popularity.nix { inherit pkgs groupLayers; }).file popularity;

  # The engine's command line; it writes groups.json, the engine's answer:
  # [ { contents = [ "/nix/store/..." ... ]; name = "<head's name>"; ... } ... ],
  # every store path of the contents' closure in exactly one layer.
  groupCommand = ''
    # Nix 2.8 writes .attrs.json in the build folder, current Nix
    # names it in $NIX_ATTRS_JSON_FILE.
    ${groupLayers}/bin/group-layers \
      --graph "''${NIX_ATTRS_JSON_FILE:-$NIX_BUILD_TOP/.attrs.json}" \
      ${lib.optionalString (popularityFile != null) "--pop ${popularityFile}"} \
      --budget ${toString layerBudget} \
      --out groups.json
  '';
  graphAttrs = {
    __structuredAttrs = true;
    exportReferencesGraph.graph = allContents;
  };

  # The default: the engine's answer read back at evaluation time
  # (import-from-derivation), for one derivation per layer. readFile gives the
  # text the context of the store paths it names, which fromJSON refuses; the
  # context is dropped here and given back to each layer, with exactly its own
  # paths, by `storeLayer`.
  groups =
    if allContents == [ ] then
      [ ]
    else
      fromJSON (
        builtins.unsafeDiscardStringContext (builtins.readFile (
          pkgs.runCommand "${drvName}-layer-groups.json" graphAttrs ''
            ${groupCommand}
            cp groups.json "$out"
          ''
        ))
      );

  # Tools ---------------------------------------------------------------------
  #
  # Everything after the grouping is built by plain `derivation`s, without
  # stdenv, whose builder is `tools.bash` with PATH = exactly the tools the
  # step needs from `tools`: coreutils and GNU tar for a layer (and gzip or
  # zstd when it is compressed), python3 for the config, manifest and stream.
  # So a layer's derivation depends only on its store paths, ./layer.sh,
  # ./layer-tar.sh and those few tools: a new package set that leaves them as
  # they were (`tools` pinned to another nixpkgs than `pkgs`) rebuilds no
  # layer, and one that changes them rebuilds layers to the same bytes.

  # step NAME TOOLS SCRIPT ENV: a derivation running SCRIPT with bash. The
  # script ends with `exit 0`, so bash never execs its last command: see
  # ./layer.sh for the "signal 9 (Killed)" that prevents.
  step =
    name: stepTools: script: env:
    derivation (
      {
        inherit name system;
        builder = "${tools.bash}/bin/bash";
        args = [
          "-c"
          ''
            set -eu -o pipefail
            export PATH=${lib.makeBinPath stepTools}
            ${script}
            exit 0
          ''
        ];
      }
      // env
    );

  compressors = {
    none = [ ];
    gzip = [ tools.gzip ];
    zstd = [ tools.zstd ];
  };
  # The environment of ./layer.sh for a layer with (keepBlob) or without
  # its blob, compressed with `compressionOf`.
  layerEnv = keepBlob: compressionOf: {
    toolPath = lib.makeBinPath (
      [
        tools.bash
        tools.coreutils
        tools.gnutar
      ]
      ++ compressors.${compressionOf}
    );
    layerTar = "${./layer-tar.sh}";
    keepBlob = if keepBlob then "1" else "";
    compression = compressionOf;
  };
  # The shell command running ./layer.sh with these variables set (and
  # `more`, shell text, after them).
  layerShell =
    env: more:
    "${
      lib.concatStrings (lib.mapAttrsToList (k: v: "${k}=${lib.escapeShellArg v} ") env)
    }${more} ${tools.bash}/bin/bash ${./layer.sh}";

  python = "${tools.python3}/bin/python3 -B ${imageTools}/main.py";
  imageTools = builtins.path {
    name = "group-layers-image-tools";
    path = ./imagetools;
    filter = path: type: !(lib.hasSuffix "__pycache__" path || lib.hasSuffix ".pyc" path);
  };

  # Layers --------------------------------------------------------------------
  #
  # A layer derivation's output is a folder with layer.json (the tar's
  # sha256 and size and, with its blob, the blob's), the list of its store
  # paths and, when kept, the blob (see ./layer.sh). A streamed image keeps
  # no blob: it packs the layers at run time. The registry path (buildImage)
  # keeps them, compressed as asked.

  # "/nix/store/<hash>-hello-2.12" -> "hello-2.12"
  packageName = storePath: builtins.substring 33 (-1) (baseNameOf storePath);

  blobSuffix = {
    none = ".tar";
    gzip = ".tar.gz";
    zstd = ".tar.zst";
  };

  # The layer of the engine's group, named after the group's head. The paths
  # come from the engine's JSON without string context; appendContext gives
  # the derivation a real dependency on each one, so that it is built (or
  # substituted) first and a sandboxed builder sees it.
  storeLayer =
    keepBlob: compressionOf: group:
    let
      sorted = builtins.sort builtins.lessThan group.contents;
      count = builtins.length sorted;
      members = map (p: appendContext p { ${p}.path = true; }) sorted;
    in
    step
      (
        "layer-${builtins.substring 0 100 (group.name or (packageName (builtins.head sorted)))}"
        + lib.optionalString (count > 1) "-and-${toString (count - 1)}-more"
        + lib.optionalString keepBlob blobSuffix.${compressionOf}
      )
      [ ]
      (layerShell { layerSource = "store"; } "")
      (
        layerEnv keepBlob compressionOf
        // {
          layerPaths = lib.concatMapStrings (p: p + "\n") members;
          passAsFile = [ "layerPaths" ];
        }
      );

  # groupAtBuildTime: one derivation runs the engine and builds every layer
  # with the same ./layer.sh; its output is a folder of layers (000, 001, ...
  # and `layers`, their list), so nothing is read back at evaluation time.
  groupedLayers =
    keepBlob: compressionOf:
    pkgs.runCommand "${drvName}-layers${lib.optionalString keepBlob blobSuffix.${compressionOf}}" graphAttrs ''
      ${groupCommand}
      ${python} split-groups groups.json paths
      mkdir -p "$out"
      for paths in paths/*; do
        ${layerShell (layerEnv keepBlob compressionOf // { layerSource = "store"; })
          ''layerOut="$out/''${paths##*/}" layerPaths="$paths"''}
        echo "$out/''${paths##*/}" >> "$out/layers"
      done
      touch "$out/layers"
    '';

  # The contents' symlink tree at / (bin/, etc/, lib/, ...), after
  # extraCommands; always kept as a blob, since the store would not keep the
  # modes and owners extraCommands and uid/gid give it.
  customisationLayer =
    compressionOf:
    pkgs.runCommand "${drvName}-customisation-layer${blobSuffix.${compressionOf}}"
      {
        nativeBuildInputs = [ pkgs.coreutils ];
      }
      ''
        mkdir layer
        # The contents' folders merged as symlinks at / (the first content
        # wins a name, as with symlinkJoin), each to its own path
        # (/bin/sh -> /nix/store/...-busybox/bin/sh); a content that is a
        # single file has nothing to merge: it is in the store layers only.
        for content in ${toString allContents}; do
          if [ -d "$content" ]; then
            entries=$(shopt -s dotglob nullglob; for e in "$content"/*; do printf '%s\n' "$e"; done)
            [ -z "$entries" ] || while IFS= read -r e; do
              cp -R --symbolic-link --no-clobber --no-preserve=mode,ownership "$e" layer/
            done <<< "$entries"
          fi
        done
        (
          cd layer
          ${extraCommands}
        )
        ${layerShell (layerEnv true compressionOf // {
          layerSource = "dir";
          layerDir = "layer";
          layerUid = toString checked.uid;
          layerGid = toString checked.gid;
        }) ''layerOut="$out"''}
      '';

  # The layers, bottom first: the engine's then the customisation layer.
  layersOf =
    keepBlob: compressionOf:
    (
      if groupAtBuildTime then
        lib.optional (allContents != [ ]) (groupedLayers keepBlob compressionOf)
      else
        map (storeLayer keepBlob compressionOf) groups
    )
    ++ [ (customisationLayer compressionOf) ];

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
      given = checked.config;
      env = given.Env or [ ];
    in
    given
    // {
      Env = lib.optional (!builtins.any (lib.hasPrefix "PATH=") env) "PATH=/bin" ++ env;
    };

  # The config, but rootfs and history, which the layers' builds tell.
  baseConfig = toJSON {
    inherit architecture created;
    os = "linux";
    config = runtimeConfig;
  };

  configOf =
    layerList:
    step "${drvName}-config.json" [ ] "${python} config \"$baseConfigPath\" ${toString layerList} > \"$out\"" {
      inherit baseConfig;
      passAsFile = [ "baseConfig" ];
    };

  # Outputs ---------------------------------------------------------------------

  # For the registry: blobs kept, compressed as asked.
  registryLayers = layersOf true compressionChecked;
  registryConfig = configOf registryLayers;
  manifestOutput =
    step "manifest-output.json" [ ]
      "${python} manifest ${registryConfig} ${compressionChecked} ${toString registryLayers} > \"$out\""
      { };

  # For the stream: digests only.
  streamLayers = layersOf false "none";
  imageConfig = configOf streamLayers;

  imageTag =
    if checked.tag != null then checked.tag else builtins.substring 0 32 (baseNameOf imageConfig.outPath);

  # The executable that writes the `docker load` archive to stdout. Its
  # attributes imageName and imageTag give its RepoTags entry, as those of
  # dockerTools' images do.
  stream =
    step "stream-${drvName}" [ tools.coreutils ]
      ''
        printf '%s\n' "$script" > "$out"
        chmod 0555 "$out"
      ''
      {
        script = ''
          #!${tools.bash}/bin/bash
          # Writes the image ${imageName}:${imageTag} as a `docker load` archive to stdout.
          export PATH=${lib.makeBinPath [ tools.bash tools.coreutils tools.gnutar ]}
          exec ${python} stream ${imageConfig} ${lib.escapeShellArg "${imageName}:${imageTag}"} \
            ${./layer-tar.sh} ${toString streamLayers}
        '';
      }
    // {
      inherit imageName imageTag;
    };

  # The same archive, stored: the stream's output, byte for byte.
  image =
    step "${drvName}.tar" [ ] "${stream} > \"$out\"" { }
    // {
      inherit imageName imageTag;
    };

  # The answer when packages are not found, or refused: Nixery's error
  # object ({ "error": "not_found", "pkgs": [...] }, or "unavailable" with
  # each package's reason), and outputs that stop with one line.
  errorOutput =
    error: message:
    pkgs.writeText "manifest-output.json" (toJSON error)
    // {
      inherit notFound refused;
      image = throw message;
      stream = throw message;
      layers = throw message;
      contents = throw message;
    };
in
builtins.seq checked.validBeforeLookup (
if notFound != [ ] then
  errorOutput {
    error = "not_found";
    pkgs = notFound;
  } "group-layers: packages not found in the package set: ${lib.concatStringsSep ", " notFound}"
else if refused != { } then
  errorOutput {
    error = "unavailable";
    pkgs = builtins.attrNames refused;
    reasons = refused;
  } "group-layers: packages the package set refuses: ${
    lib.concatStringsSep "; " (lib.mapAttrsToList (n: why: "${n}: ${why}") refused)
  }"
else
  builtins.seq checked.valid manifestOutput
  // {
    inherit image stream notFound refused;
    layers = registryLayers;
    contents = allContents;
  }
)
