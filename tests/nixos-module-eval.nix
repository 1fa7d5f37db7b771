# Calls nixos/module.nix as the module system does (a function of config,
# lib, pkgs) with the offline package set, and resolves the mkIf / mkMerge /
# mkDefault it returns (the fixture's lib has no evalModules; the tagged
# values have nixpkgs' `_type` names). Used by tests/test_flake.py:
#
#   nix-instantiate --eval --strict --json tests/nixos-module-eval.nix \
#     --arg root ./. --argstr system x86_64-linux
{
  root,
  system,
  enable ? true,
  wire ? true,
}:

let
  pkgs = import (root + "/tests/fixture-pkgs") { inherit system; };
  inherit (pkgs) lib;
  module = import (root + "/nixos/module.nix");

  # mkIf / mkMerge / mkOverride, pushed away as evalModules would for
  # definitions that do not conflict.
  resolve =
    v:
    let
      t = v._type or null;
    in
    if t == "if" then
      (if v.condition then resolve v.content else { })
    else if t == "merge" then
      builtins.foldl' lib.recursiveUpdate { } (map resolve v.contents)
    else if t == "override" || t == "order" then
      resolve v.content
    else if builtins.isAttrs v && !lib.isDerivation v then
      # an attribute whose mkIf is false is no definition
      builtins.mapAttrs (_: resolve) (lib.filterAttrs (_: x: !((x._type or null) == "if" && !x.condition)) v)
    else
      v;

  # The configuration the module sees: the user's definitions, with the
  # options' defaults filled in (the module's own read-only result fed back).
  userConfig = {
    programs.group-layers = {
      inherit enable;
      package = out.options.programs.group-layers.package.default;
    };
    virtualisation.group-layers = {
      wireOciContainers = wire;
      popularity = null;
      images.web = {
        name = "web";
        tag = "v1";
        packages = [ "hello" ];
        contents = [ ];
        maxLayers = 3;
        popularity = null;
        config.Cmd = [ "/bin/hello" ];
      };
      builtImages = produced.virtualisation.group-layers.builtImages;
      builtStreams = produced.virtualisation.group-layers.builtStreams;
      # imageStream is tested with the real module system, in
      # tests/test_nixos_stream.py.
      loadWith = "imageFile";
    };
  };

  out = module {
    config = userConfig;
    inherit lib pkgs;
  };
  produced = resolve out.config;

  # The module's addition to each oci-containers container (a submodule).
  containerModule = builtins.head
    out.options.virtualisation.oci-containers.containers.type.nestedTypes.elemType.modules;
  container =
    name:
    resolve
      (containerModule {
        inherit name lib pkgs;
        config = { };
      }).config;

  drvPathOr = v: if lib.isDerivation v then v.drvPath else v;
in
{
  optionNames = builtins.attrNames out.options.virtualisation.group-layers;
  imageOptionNames = builtins.attrNames
    ((builtins.head out.options.virtualisation.group-layers.images.type.nestedTypes.elemType.modules)
      { name = "x"; }).options;
  systemPackages = map (p: p.name) (produced.environment.systemPackages or [ ]);
  extraDependencies = map (d: d.drvPath) (produced.system.extraDependencies or [ ]);
  builtImages = builtins.mapAttrs (_: d: {
    inherit (d) drvPath imageName imageTag;
  }) produced.virtualisation.group-layers.builtImages;
  containers = {
    web = builtins.mapAttrs (_: drvPathOr) (container "web");
    other = container "other";
  };
}
