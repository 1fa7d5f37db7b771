# nixos/module.nix with nixpkgs' real module system (lib.evalModules from
# `libPath`, nixpkgs' lib) and the options of oci-containers it touches, as
# nixos/modules/virtualisation/oci-containers.nix declares them: image,
# imageFile and, with `withStream` (NixOS 24.11 and later), imageStream;
# without, the lib says release 24.05.
# Used by tests/test_nixos_stream.py.
{
  libPath,
  root,
  withStream,
  loadWith ? null,
}:

let
  # Without imageStream: a NixOS from before it, 24.05.
  lib =
    if withStream then
      import libPath
    else
      (import libPath).extend (self: super: { trivial = super.trivial // { release = "24.05"; }; });
  pkgs = import (root + "/tests/fixture-pkgs") { };
  ociContainers = {
    options.virtualisation.oci-containers.containers = lib.mkOption {
      default = { };
      type = lib.types.attrsOf (
        lib.types.submodule {
          options = {
            image = lib.mkOption { type = lib.types.str; };
            imageFile = lib.mkOption {
              type = lib.types.nullOr lib.types.package;
              default = null;
            };
          }
          // lib.optionalAttrs withStream {
            imageStream = lib.mkOption {
              type = lib.types.nullOr lib.types.package;
              default = null;
            };
          };
        }
      );
    };
    options.system.extraDependencies = lib.mkOption {
      type = lib.types.listOf lib.types.package;
      default = [ ];
    };
    options.environment.systemPackages = lib.mkOption {
      type = lib.types.listOf lib.types.package;
      default = [ ];
    };
  };
  eval = lib.evalModules {
    modules = [
      ociContainers
      (root + "/nixos/module.nix")
      {
        _module.args.pkgs = pkgs;
        virtualisation.group-layers.images.web = {
          tag = "v1";
          packages = [ "hello" ];
        };
        virtualisation.oci-containers.containers.web = { };
      }
      (lib.optionalAttrs (loadWith != null) { virtualisation.group-layers.loadWith = loadWith; })
    ];
  };
  cfg = eval.config;
  web = cfg.virtualisation.oci-containers.containers.web;
  drvPathOr = v: if v == null then null else v.drvPath;
in
{
  inherit (web) image;
  imageFile = drvPathOr web.imageFile;
  imageStream = drvPathOr (web.imageStream or null);
  extraDependencies = map (d: d.drvPath) cfg.system.extraDependencies;
  stream = cfg.virtualisation.group-layers.builtStreams.web.drvPath;
  archive = cfg.virtualisation.group-layers.builtImages.web.drvPath;
}
