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
#   push         `push MANIFEST-OUTPUT docker://HOST/NAME:TAG`, skopeo copy
#                of a buildImage result to a registry;
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
  compression ? null,
  groupAtBuildTime ? null,
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

  buildImage = buildImageWith (lib.filterAttrs (_: v: v != null) (removeAttrs args [ "self" "pkgs" ]));

  inherit (buildImage) image stream;

  push =
    let
      toolSet = if tools != null then tools else pkgs;
    in
    pkgs.writeShellScriptBin "push" ''
      export PATH=${lib.makeBinPath [ toolSet.skopeo ]}:$PATH
      ${toolSet.python3}/bin/python3 -B ${
        builtins.path {
          name = "group-layers-image-tools";
          path = ./imagetools;
          filter = path: type: !(lib.hasSuffix "__pycache__" path || lib.hasSuffix ".pyc" path);
        }
      }/main.py push "$@"
    '';

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
