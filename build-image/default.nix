# Entry point of the Nix half: builds the `group-layers` engine from this
# project's source and hands it to ./build-image.nix. It gives
#
#   groupLayers  the engine (a Python application), as image builds run it;
#   groupLayersWithCache
#                the same with aiohttp, for `popcount --cache http(s)://`;
#   buildImage   Nixery's manifest-output.json for the image the arguments
#                describe (see ./build-image.nix);
#   image        the same image as a `docker load` archive;
#   buildImageWith ARGS  buildImage for other arguments (the NixOS module's
#                images);
#   stream       an executable writing that archive to stdout (nothing of the
#                image in the store but the layers' digests);
#   lock         the layer lock of that image's plan, for the next build's
#                `layerLock` (docs/layer-lock.md);
#   push         `push MANIFEST-OUTPUT docker://HOST/NAME:TAG`, skopeo copy
#                of a buildImage result (and its SBOM) or an index to a
#                registry;
#   index        the image for each of `systems`, as an OCI image index;
#   pullImage    a registry image by digest, for fromImage (./base-image.nix);
#   popularity   the popularity file of the requested packages' closures
#                (see ./popularity.nix);
#   wrapper      `nixery-build-image`, the command a Nixery-style server runs
#                to build an image at run time: it passes its arguments
#                (--argstr name ..., --argstr packages '[...]',
#                --argstr pkgSource ...) to a nix-build of `buildImage` here,
#                with the package set it was built with, and prints the path
#                of manifest-output.json;
#   registry     `group-layers-registry`, a registry server that builds
#                images on demand with that wrapper (./registry.nix).
#
# Every argument of build-image.nix can be given here too; null means "its
# default there".
{
  # The package set that builds the tools (the engine, tar, jq, ...) and,
  # unless `pkgSource` names another one, provides the image's packages.
  pkgs ? import <nixpkgs> { },
  # The package set of the image builders' tools (see build-image.nix).
  tools ? null,
  # The project's source tree (the folder with setup.py and group_layers/):
  # a path, or a string when a run-time `nix-build --argstr self ...` gives it.
  self ? ../.,
  # The arguments of build-image.nix, documented there.
  name ? null,
  tag ? null,
  packages ? null,
  contents ? null,
  maxLayers ? null,
  pkgSource ? null,
  popularity ? null,
  config ? null,
  extraCommands ? null,
  uid ? null,
  gid ? null,
  users ? null,
  user ? null,
  annotations ? null,
  fromImage ? null,
  # The system to build the image for (default: that of `pkgs`): the
  # package set is imported again for it (`pkgs.path`, nixpkgs' source,
  # without pkgs' config or overlays); a foreign one builds through remote
  # builders or emulation (docs/images.md, "Multi-arch").
  system ? null,
  # The systems of `index` (see below), a list or a JSON string of one.
  systems ? null,
  compression ? null,
  groupAtBuildTime ? null,
  layerLock ? null,
}@args:

let
  inherit (pkgs) lib;

  # Why the source is rebuilt through readDir/readFile instead of `src = self`:
  # the wrapper below starts a new `nix-build` at run time and hands it the
  # source as `--argstr self /nix/store/...-group-layers-source`, a plain
  # string without string context. A derivation using that string would not
  # depend on the source, so a sandboxed or remote builder would not get it.
  # Reading each file with builtins.readFile and writing it back with
  # builtins.toFile puts every file in the derivation's context. It gives the
  # same derivation whether `self` is the checkout or that store copy, so the
  # engine built with the wrapper is the one used at run time. Only what the
  # engine's build needs is taken: the files in `topFiles` and the package
  # folder group_layers/; no tests, caches, build results or symlinks.
  topFiles = [
    "setup.py"
    "README.md"
    "LICENSE"
  ];
  skipped =
    fileName:
    lib.hasPrefix "." fileName
    || fileName == "__pycache__"
    || lib.hasSuffix ".pyc" fileName
    || lib.hasSuffix ".egg-info" fileName;

  # The regular files below the folder `dir`, as
  # [ { rel = "<prefix><name>"; file = <store path of a copy>; } ... ].
  filesBelow =
    dir: prefix:
    lib.concatLists (
      lib.mapAttrsToList (
        fileName: type:
        let
          # `dir + ...` keeps a path a path: interpolating the checkout into a
          # string would copy all of it (.git included) to the store.
          child = dir + "/${fileName}";
        in
        if skipped fileName then
          [ ]
        else if type == "directory" then
          filesBelow child "${prefix}${fileName}/"
        else
          lib.optional (type == "regular") {
            rel = prefix + fileName;
            file = builtins.toFile fileName (builtins.readFile child);
          }
      ) (builtins.readDir dir)
    );

  sourceFiles =
    let
      top = builtins.readDir self;
    in
    map (
      fileName:
      if top.${fileName} or null == "regular" then
        {
          rel = fileName;
          file = builtins.toFile fileName (builtins.readFile (self + "/${fileName}"));
        }
      else
        throw "group-layers: ${fileName}, a file the engine's build needs, is not in ${toString self}"
    ) topFiles
    ++ filesBelow (self + "/group_layers") "group_layers/";

  source = pkgs.runCommand "group-layers-source" { } (
    ''
      mkdir -p "$out"
    ''
    + lib.concatMapStrings (f: ''
      mkdir -p "$(dirname "$out"/${lib.escapeShellArg f.rel})"
      cp ${f.file} "$out"/${lib.escapeShellArg f.rel}
    '') sourceFiles
  );

  version =
    let
      found = builtins.match ''.*__version__ = "([^"]+)".*'' (
        builtins.readFile (self + "/group_layers/__init__.py")
      );
    in
    if found == null then throw "group_layers/__init__.py sets no __version__" else builtins.head found;

  # This project's Python package built from `source`: the engine, and with
  # `extraDependencies` (aiohttp) the command for people and the registry.
  pythonApplication =
    {
      extraDependencies ? [ ],
      ...
    }@attrs:
    pkgs.python3Packages.buildPythonApplication (
      {
        inherit version;
        src = source;
        pyproject = true;
        build-system = [ pkgs.python3Packages.setuptools ];
        dependencies =
          with pkgs.python3Packages;
          [
            networkx
            jsonschema
          ]
          ++ extraDependencies;
      }
      // removeAttrs attrs [ "extraDependencies" ]
    );
  # pname is the Python distribution's name (setup.py's): nixpkgs'
  # pythonMetadataCheckHook looks the installed distribution up by it.
  engineAttrs = {
    pname = "group-layers";
    pythonImportsCheck = [ "group_layers.cli" ];
    meta = {
      description = "Decide which Nix store paths go into which container image layer";
      mainProgram = "group-layers";
    };
  };
  baseImages = import ./base-image.nix { inherit lib pkgs; };
  toolSet = if tools != null then tools else pkgs;
  # The image tools' command (./imagetools/main.py) on the user's machine.
  imageTools = "${toolSet.python3}/bin/python3 -B ${
    builtins.path {
      name = "group-layers-image-tools";
      path = ./imagetools;
      filter = path: type: !(lib.hasSuffix "__pycache__" path || lib.hasSuffix ".pyc" path);
    }
  }/main.py";
in
rec {
  popularityTools = import ./popularity.nix { inherit pkgs groupLayers; };

  # The engine that image builds run: networkx and jsonschema only.
  groupLayers = pythonApplication engineAttrs;
  # The command for people (`nix-build -A group-layers`, the flake's package,
  # the overlay's pkgs.group-layers, the NixOS module): the same engine with
  # the `cache` extra, aiohttp, so that `popcount --cache http(s)://...` works.
  # It is also the registry server's Python program (./registry.nix).
  groupLayersWithCache = pythonApplication (
    engineAttrs
    // {
      extraDependencies = [ pkgs.python3Packages.aiohttp ];
      pythonImportsCheck = engineAttrs.pythonImportsCheck ++ [ "group_layers.registry.server" ];
    }
  );

  # buildImage for other arguments (build-image.nix's, without pkgs and
  # groupLayers), with this toolkit's package set and engine.
  buildImageWith = imageArgs: import ./build-image.nix (imageArgs // { inherit pkgs groupLayers; });

  hostSystem = pkgs.stdenv.hostPlatform.system;
  # This toolkit for another system.
  forSystem =
    otherSystem:
    import ./. (args // { pkgs = import pkgs.path { system = otherSystem; }; system = null; systems = null; });

  buildImage =
    if system != null && system != hostSystem then
      builtins.seq (baseImages.goArch system) (forSystem system).buildImage
    else
      buildImageWith (lib.filterAttrs (_: v: v != null) (removeAttrs args [ "self" "pkgs" "system" "systems" ]));

  inherit (buildImage) image stream lock;

  # pullImage { imageName; imageDigest; hash; ... }: a registry image by its
  # digest, for fromImage (see ./base-image.nix).
  inherit (baseImages) pullImage;

  push = pkgs.writeShellScriptBin "push" ''
    export PATH=${lib.makeBinPath [ toolSet.skopeo ]}:$PATH
    ${imageTools} push "$@"
  '';

  # The image for each of `systems` (a list of Nix systems, or a JSON
  # string of one; default: this package set's), each built with the
  # package set re-imported for its system (`pkgs.path`: nixpkgs' source;
  # foreign ones build through remote builders or emulation, see
  # docs/images.md), as an OCI image index in an OCI layout folder
  # (./imagetools/index.py): `push` sends it whole.
  index =
    let
      given = if builtins.isString systems then builtins.fromJSON systems else systems;
      systemList = if given == null then [ hostSystem ] else given;
      images = map (s: if s == hostSystem then buildImage else (forSystem s).buildImage) systemList;
      checked =
        if !(builtins.isList systemList && systemList != [ ] && builtins.all builtins.isString systemList) then
          throw "group-layers: systems is ${builtins.toJSON systemList}, it must be a non-empty list of Nix systems such as [\"x86_64-linux\",\"aarch64-linux\"]"
        else if lib.length (lib.unique systemList) != lib.length systemList then
          throw "group-layers: systems ${builtins.toJSON systemList} names a system twice"
        else
          lib.deepSeq (map baseImages.goArch systemList) systemList;
    in
    builtins.seq checked (
      pkgs.runCommand "image-index" { } ''
        ${imageTools} index "$out" ${lib.escapeShellArg (if tag != null then tag else "latest")} ${toString images}
      ''
    );

  # The popularity file of the closures of the image's roots (the packages
  # and contents asked for), made by the engine: `nix-build -A popularity`.
  popularity = popularityTools.count buildImage.contents;

  # The package set is baked in: the run-time nix-build imports the same
  # nixpkgs source (pkgs.path) for the same system, without <nixpkgs>, so the
  # wrapper works on a host with no NIX_PATH. A `popularity` given here is
  # the wrapper's default. The caller's arguments come after and win:
  # --arg pkgs 'import <nixpkgs> { }' to use NIX_PATH's, --argstr pkgSource
  # ... for another package set, --arg(str) popularity. (The baked-in import
  # takes no config or overlays: those of the wrapper's `pkgs` are not
  # carried.)
  wrapper = pkgs.writeShellScriptBin "nixery-build-image" ''
    exec ${pkgs.nix}/bin/nix-build \
      --show-trace \
      --no-out-link \
      --arg pkgs ${lib.escapeShellArg "import ${pkgs.path} { system = \"${pkgs.stdenv.hostPlatform.system}\"; config = { }; overlays = [ ]; }"} \
      ${lib.optionalString (args.popularity or null != null)
        "--arg popularity 'builtins.storePath ${popularityTools.file args.popularity}'"} \
      "$@" \
      --argstr self ${source} \
      -A buildImage ${./.}
  '';

  registry = import ./registry.nix {
    inherit pkgs wrapper;
    server = groupLayersWithCache;
  };
}
