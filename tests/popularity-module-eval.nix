# nixos/module.nix evaluated by nixpkgs' real module system (lib.evalModules)
# with the offline package set, for tests/test_popularity_nix.py: three
# images of hello, under virtualisation.group-layers.popularity = the file
# given: "default" takes it, "none" sets its own popularity to null, "own"
# sets its own (the same file, as a derivation). Gives each built image's
# drvPath.
{
  nixpkgsLib,
  root,
  system,
  popularity,
}:

let
  lib = import nixpkgsLib;
  pkgs = import (root + "/tests/fixture-pkgs") { inherit system; };
  hello = {
    packages = [ "hello" ];
    maxLayers = 3;
  };
  evaluated = lib.evalModules {
    modules = [
      (root + "/nixos/module.nix")
      {
        # What NixOS declares and the module sets.
        options.system.extraDependencies = lib.mkOption { type = lib.types.listOf lib.types.package; };
        options.environment.systemPackages = lib.mkOption { type = lib.types.listOf lib.types.package; };
        config._module.args.pkgs = pkgs;
      }
      {
        virtualisation.group-layers = {
          inherit popularity;
          images.default = hello;
          images.none = hello // { popularity = null; };
          images.own = hello // { popularity = pkgs.writeText "own.json" (builtins.readFile popularity); };
        };
      }
    ];
  };
in
builtins.mapAttrs (_: image: image.drvPath) evaluated.config.virtualisation.group-layers.builtImages
