# Minimal declarations of the NixOS options that nixos/module.nix and
# nixos/registry.nix set, for evaluating them with nixpkgs' real module
# system but without NixOS (tests/nixos-module-eval.nix,
# tests/registry-module-eval.nix). They follow NixOS' own (read in nixpkgs'
# nixos/modules/virtualisation/oci-containers.nix, environment.systemPackages,
# system.extraDependencies, systemd.services, networking.firewall,
# assertions): same names, types and defaults, only the options used here.
{ lib, ... }:

let
  inherit (lib) mkOption types;
in
{
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
    systemd.services = mkOption {
      type = types.attrsOf (types.submodule { freeformType = types.attrsOf types.anything; });
      default = { };
    };
    systemd.timers = mkOption {
      type = types.attrsOf (types.submodule { freeformType = types.attrsOf types.anything; });
      default = { };
    };
    networking.firewall.allowedTCPPorts = mkOption {
      type = types.listOf types.port;
      default = [ ];
    };
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
  };
}
