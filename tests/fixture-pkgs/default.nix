# group-layers TEST FIXTURE: an offline stand-in for nixpkgs.
#
# This machine (and CI) has Nix but no nixpkgs and no binary cache, so the
# toolkit's Nix files are evaluated and built against this small package set
# instead:
#
#   NIX_PATH=nixpkgs=$PWD/tests/fixture-pkgs   (import <nixpkgs> { ... })
#   --override-input nixpkgs path:$PWD/tests/fixture-pkgs   (flake input)
#
# It is used ONLY by the test-suite; the product code never imports it and
# must keep working unchanged on real nixpkgs.  Everything here mirrors the
# real nixpkgs attribute names, argument shapes and semantics for what it
# implements, but the packages wrap the HOST's tools (/usr/bin, Debian's
# python3) instead of building them from source, and the toy packages
# (hello, libgreeting, python3Packages.requests, ...) exist to give store
# closures with real references and different sizes.  Written from scratch;
# no nixpkgs code is copied.
{ system ? builtins.currentSystem
, localSystem ? { inherit system; }
, crossSystem ? null
, overlays ? [ ]
, config ? { }
, ...
}@args:

let
  lib = import ./lib.nix;

  hostSystem =
    if args ? system then system
    else if builtins.isString localSystem then localSystem
    else localSystem.system or system;

  # The base layer of the fixpoint: every package is a function of `final`
  # (the fully overlaid set), as in nixpkgs.
  base = final: import ./pkgs {
    inherit lib final config overlays;
    system = hostSystem;
    fixtureArgs = args;
  };

  # Overlays are applied in order, each seeing the previous result as `prev`.
  pkgsFun = lib.foldl' (acc: overlay: lib.extends overlay acc) base overlays;
in
lib.fix pkgsFun
