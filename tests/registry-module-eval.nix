# Evaluates nixos/registry.nix with nixpkgs' real module system
# (lib.evalModules from `nixpkgsLib`, a copy of nixpkgs' lib/ folder's
# parent) and the offline package set, with minimal declarations standing in
# for the NixOS options the module sets (./nixos-declarations.nix). Used by
# tests/test_registry_module.py:
#
#   nix-instantiate --eval --strict --json tests/registry-module-eval.nix \
#     --arg root ./. --arg nixpkgsLib /path/to/nixpkgs-lib --arg settings '{ ... }'
{
  root,
  nixpkgsLib,
  # services.group-layers-registry's definitions.
  settings,
}:

let
  lib = import (nixpkgsLib + "/lib");
  pkgs = import (root + "/tests/fixture-pkgs") { };
  eval = lib.evalModules {
    modules = [
      (root + "/nixos/registry.nix")
      ./nixos-declarations.nix
      { _module.args.pkgs = pkgs; }
      { services.group-layers-registry = settings; }
    ];
  };
  inherit (eval) config;
in
{
  service = config.systemd.services.group-layers-registry or null;
  gcService = config.systemd.services.group-layers-registry-gc or null;
  gcTimer = config.systemd.timers.group-layers-registry-gc or null;
  ports = config.networking.firewall.allowedTCPPorts;
  failedAssertions = map (a: a.message) (builtins.filter (a: !a.assertion) config.assertions);
  inherit (config.services.group-layers-registry) package;
  pkgsPath = "${pkgs.path}";
}
