# Evaluates nixos/module.nix with nixpkgs' real module system (evalModules of
# nixpkgs' lib, found at `nixpkgsLib`: tests/nix_support.py's nixpkgs_lib())
# and the offline package set, beside minimal declarations of the NixOS
# options the module sets. Those follow NixOS' own (read in nixpkgs'
# nixos/modules/virtualisation/oci-containers.nix, environment.systemPackages
# and system.extraDependencies): same names, types and defaults, only the
# options used here. Used by tests/test_nixos_module.py:
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
  # How the module is imported, comma-separated: "path" (as
  # nixosModules.default) or "function" (the imported file); "path,path"
  # imports it twice.
  imports ? "path",
}:

let
  lib = import (nixpkgsLib + "/lib");
  inherit (lib) mkOption types;
  pkgs = import (root + "/tests/fixture-pkgs") { inherit system; };
  modulePath = root + "/nixos/module.nix";

  # What NixOS declares and the module uses.
  nixosDeclarations = {
    options = {
      environment.systemPackages = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
      system.extraDependencies = mkOption {
        type = types.listOf types.pathInStore;
        default = [ ];
      };
      virtualisation.oci-containers = {
        backend = mkOption {
          type = types.enum [ "podman" "docker" ];
          default = "podman";
        };
        containers = mkOption {
          default = { };
          type = types.attrsOf (
            types.submodule {
              options = {
                image = mkOption { type = types.str; };
                imageFile = mkOption {
                  type = types.nullOr types.package;
                  default = null;
                };
                imageStream = mkOption {
                  type = types.nullOr types.package;
                  default = null;
                };
                ports = mkOption {
                  type = types.listOf types.str;
                  default = [ ];
                };
              };
            }
          );
        };
      };
    };
  };

  evaluated = lib.evalModules {
    modules =
      map (how: if how == "path" then modulePath else import modulePath) (lib.splitString "," imports)
      ++ [
        nixosDeclarations
        configuration
        { _module.args.pkgs = pkgs; }
      ];
  };
  inherit (evaluated) config options;
  drvPathOr = v: if lib.isDerivation v then v.drvPath else v;
in
{
  optionNames = builtins.attrNames options.virtualisation.group-layers;
  imageOptionNames = builtins.filter (n: n != "_module") (
    builtins.attrNames (options.virtualisation.group-layers.images.type.getSubOptions [ ])
  );
  systemPackages = map (p: p.name) config.environment.systemPackages;
  extraDependencies = map (d: d.drvPath) config.system.extraDependencies;
  builtImages = builtins.mapAttrs (_: d: {
    inherit (d) drvPath imageName imageTag;
  }) config.virtualisation.group-layers.builtImages;
  builtStreams = builtins.mapAttrs (_: d: d.drvPath) config.virtualisation.group-layers.builtStreams;
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
}
