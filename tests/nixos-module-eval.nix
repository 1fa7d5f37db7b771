# Evaluates nixos/module.nix (and nixos/registry.nix, the flake's
# nixosModules) with nixpkgs' real module system (evalModules of nixpkgs'
# lib, found at `nixpkgsLib`: tests/nix_support.py's nixpkgs_lib()) and the
# offline package set, beside minimal declarations of the NixOS options the
# modules set (./nixos-declarations.nix). Used by tests/test_nixos_module.py:
#
#   nix-instantiate --eval --strict --json tests/nixos-module-eval.nix \
#     --arg nixpkgsLib /path/to/nixpkgs-lib --arg root ./. --argstr system x86_64-linux \
#     --arg configuration '{ virtualisation.group-layers.images.web.packages = [ "hello" ]; }' \
#     --argstr imports path,function
{
  nixpkgsLib,
  root,
  system,
  # The user's module.
  configuration,
  # What is imported, comma-separated, each any number of times:
  # nixos/module.nix by "path" or as the imported file ("function");
  # nixos/registry.nix the same ("registry-path", "registry-function"); the
  # flake's nixosModules.default ("flake-default") and .registry
  # ("flake-registry").
  imports ? "path",
}:

let
  lib = import (nixpkgsLib + "/lib");
  pkgs = import (root + "/tests/fixture-pkgs") { inherit system; };
  flake = (import (root + "/flake.nix")).outputs {
    self = flake;
    nixpkgs = { };
  };
  modules = {
    path = root + "/nixos/module.nix";
    function = import (root + "/nixos/module.nix");
    registry-path = root + "/nixos/registry.nix";
    registry-function = import (root + "/nixos/registry.nix");
    flake-default = flake.nixosModules.default;
    flake-registry = flake.nixosModules.registry;
  };

  evaluated = lib.evalModules {
    modules =
      map (how: modules.${how}) (lib.splitString "," imports)
      ++ [
        ./nixos-declarations.nix
        configuration
        { _module.args.pkgs = pkgs; }
      ];
  };
  inherit (evaluated) config options;
  drvPathOr = v: if lib.isDerivation v then v.drvPath else v;
  images = options.virtualisation.group-layers or null;
in
{
  optionNames = if images == null then [ ] else builtins.attrNames images;
  imageOptionNames =
    if images == null then
      [ ]
    else
      builtins.filter (n: n != "_module") (builtins.attrNames (images.images.type.getSubOptions [ ]));
  systemPackages = map (p: p.name) config.environment.systemPackages;
  extraDependencies = map (d: d.drvPath) config.system.extraDependencies;
  builtImages = builtins.mapAttrs (_: d: {
    inherit (d) drvPath imageName imageTag;
  }) (config.virtualisation.group-layers.builtImages or { });
  builtStreams = builtins.mapAttrs (_: d: d.drvPath) (
    config.virtualisation.group-layers.builtStreams or { }
  );
  containers = builtins.mapAttrs (_: c: {
    # NixOS gives `image` no default: null here when nothing set it.
    image =
      let
        image = builtins.tryEval c.image;
      in
      if image.success then image.value else null;
    imageFile = drvPathOr c.imageFile;
    imageStream = drvPathOr c.imageStream;
  }) config.virtualisation.oci-containers.containers;
  registryExecStart = config.systemd.services.group-layers-registry.serviceConfig.ExecStart or null;
  # The options as the NixOS manual renders them: a default given by
  # defaultText, else the default's value.
  documentedDefaults = builtins.listToAttrs (
    map (o: {
      inherit (o) name;
      value = o.default or null;
    }) (builtins.filter (o: lib.hasSuffix ".package" o.name) (lib.optionAttrSetToDocList options))
  );
}
