# Flake interface of the group-layers offline nixpkgs stand-in (see
# default.nix).  Mirrors the outputs of nixpkgs' own flake that consumer
# flakes use: `lib`, `legacyPackages.<system>`, and the importable source
# (`import nixpkgs { inherit system; overlays = [ ... ]; }` works because
# this directory has a default.nix).  Test-only; never used by product code.
{
  description = "group-layers test fixture: offline stand-in for nixpkgs";

  outputs = { self }:
    let
      lib = import ./lib.nix;
      forAllSystems = lib.genAttrs lib.systems.flakeExposed;
    in
    {
      lib = lib.extend (final: prev: {
        # nixpkgs' flake adds these; only a stub here (no NixOS modules).
        nixosSystem = args: throw "nixosSystem is not available in the group-layers fixture";
      });

      legacyPackages = forAllSystems (system: import ./. { inherit system; });

      # nixpkgs' flake exposes no `packages`/`overlays`; a few consumers
      # use `formatter`/`checks`, which are left out on purpose.
      nixosModules = { };
    };
}
