# Bootstrap shell and a minimal stdenv (see ../stdenv/setup.sh).
{ lib, final, system, config }:

let
  platform = lib.systems.elaborate system;

  # The one package built without stdenv: the host's bash, copied into the
  # store so that builders and scripts reference a real store path.
  mkHostBash = { pname, name }: (derivation {
    inherit name system;
    builder = "/bin/bash";
    args = [ "-c" ''
      export PATH=/usr/bin:/bin
      mkdir -p "$out/bin"
      cp /bin/bash "$out/bin/bash"
      ln -s bash "$out/bin/sh"
      # Do not let bash exec the last command: coreutils close stdout/stderr
      # before exiting, Nix 2.8 then sees EOF on the log pipe, kills the
      # still-running builder and reports "signal 9 (Killed)".
      exit 0
    '' ];
  }) // {
    inherit pname;
    version = "5.2.15";
    shellPath = "/bin/bash";
    meta = { mainProgram = "bash"; description = "GNU Bourne-Again Shell (host binary, fixture)"; platforms = lib.systems.flakeExposed; };
  };

  bash = mkHostBash { pname = "bash"; name = "bash-5.2.15"; };
  shell = "${bash}/bin/bash";

  stdenvDrv = derivation {
    name = "stdenv-linux";
    inherit system;
    builder = shell;
    args = [ "-c" ''
      export PATH=/usr/bin:/bin
      mkdir -p "$out"
      cp ${../stdenv/setup.sh} "$out/setup"
      exit 0  # see mkHostBash
    '' ];
  };

  # stdenv.mkDerivation: accepts an attrset or `finalAttrs: { ... }`,
  # honours __structuredAttrs, env, passthru, meta, outputs, overrideAttrs.
  makeDerivationExtensible = rattrs:
    let
      args = rattrs (args // { inherit finalPackage overrideAttrs; });
      finalPackage = mkDerivationSimple overrideAttrs args;
      overrideAttrs = f0:
        let
          f = fin: prev:
            let x = f0 prev; in
            if lib.isFunction x then f0 fin prev else x;
        in
        # f0 may be `prev: {..}`, `final: prev: {..}` or a plain attrset.
        makeDerivationExtensible (fin:
          let prev = rattrs fin; in
          prev // (if lib.isFunction f0 || f0 ? __functor then f fin prev else f0));
    in
    finalPackage;

  checkMeta = import ./check-meta.nix { inherit lib config system; };

  mkDerivationSimple = overrideAttrs: attrs:
    let
      validity = checkMeta attrs;
      structured = attrs.__structuredAttrs or false;
      name = attrs.name or "${attrs.pname}-${attrs.version}";
      outputs = attrs.outputs or [ "out" ];
      env = attrs.env or { };
      passthru = attrs.passthru or { };
      inherit (validity) meta;
      base = builtins.removeAttrs attrs [
        "meta" "passthru" "env" "pos" "realBuilder" "finalPackage" "overrideAttrs"
      ] // {
        inherit name system outputs;
        __ignoreNulls = true;
        builder = attrs.realBuilder or shell;
        args = attrs.args or [ "-e" (attrs.builder or ../stdenv/default-builder.sh) ];
        stdenv = stdenvDrv;
      };
      drvAttrs =
        if structured then base // lib.optionalAttrs (env != { }) { inherit env; }
        else base // env;
      drv = derivation drvAttrs;
    in
    lib.extendDerivation validity.handled (passthru // {
      inherit meta overrideAttrs passthru;
    }) drv;

  mkDerivation = fnOrAttrs:
    makeDerivationExtensible (if lib.isFunction fnOrAttrs then fnOrAttrs else _: fnOrAttrs);

  stdenv = stdenvDrv // {
    inherit mkDerivation shell system;
    shellPackage = bash;
    shellDryRun = "${shell} -n -O extglob";
    hostPlatform = platform;
    buildPlatform = platform;
    targetPlatform = platform;
    isLinux = true;
    isDarwin = false;
    cc = null;
    isGNU = false;
    isClang = false;
  };
in
{
  inherit bash stdenv;
  stdenvNoCC = stdenv;
  # nixpkgs' bashInteractive is bash built with readline; the host's
  # /bin/bash already has it, so this is a second copy under its real name.
  bashInteractive = mkHostBash { pname = "bash-interactive"; name = "bash-interactive-5.2.15"; };
  runtimeShellPackage = bash;
  runtimeShell = "${bash}${bash.shellPath}";
}
