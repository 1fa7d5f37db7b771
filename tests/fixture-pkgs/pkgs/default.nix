# The fixture package set (base layer, before overlays).  See ../default.nix.
{ lib, final, system, config, overlays, fixtureArgs }:

let
  self = final;
  callWith = autoArgs: fn: args:
    let
      f = if lib.isFunction fn then fn else import fn;
      auto = builtins.intersectAttrs (builtins.functionArgs f) autoArgs;
      result = f (auto // args);
    in
    if builtins.isAttrs result
    then result // { override = newArgs: callWith autoArgs fn (args // newArgs); }
    else result;

  stdenvParts = import ./stdenv.nix { inherit lib final system config; };
  trivial = import ./trivial-builders.nix { inherit lib final; };
  tools = import ./tools.nix { inherit lib final; };
  python = import ./python.nix { inherit lib final; };
  toys = import ./toys.nix { inherit lib final; };
  busybox = import ./busybox.nix { inherit lib final; };
  fetchers = import ./fetchers.nix { inherit lib; };
in
stdenvParts // trivial // tools // python // toys // busybox // fetchers // {
  inherit lib config system overlays;
  pkgs = final;
  buildPackages = final;
  pkgsBuildHost = final;
  pkgsBuildBuild = final;
  pkgsHostTarget = final;
  targetPackages = final;
  path = ./..;

  # Simple callPackage: auto-fills arguments from the package set.
  callPackage = callWith final;
  newScope = extra: callWith (final // extra);

  appendOverlays = extraOverlays:
    if extraOverlays == [ ] then final
    else import ./.. (fixtureArgs // { inherit system; overlays = overlays ++ extraOverlays; });
  extend = f: final.appendOverlays [ f ];
}
