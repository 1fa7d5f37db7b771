# Trivial builders with nixpkgs' argument shapes
# (cf. nixpkgs pkgs/build-support/trivial-builders/default.nix).
{ lib, final }:

let
  inherit (final) stdenv stdenvNoCC runtimeShell;

  # Like `lndir -silent FROM TO`: mirror directories, symlink files; an
  # existing entry in TO wins (first path wins).  Unlike lndir, a symlink in
  # FROM gets a link to itself (not a copy), so the result keeps a reference
  # to FROM even where FROM's files are links to the host's /usr/bin.
  lndirShell = ''
    __lndir() {
      local from="$1" to="$2" e name
      mkdir -p "$to"
      shopt -s dotglob nullglob
      for e in "$from"/*; do
        name="''${e##*/}"
        if [[ -L "$e" ]]; then
          [[ -e "$to/$name" || -L "$to/$name" ]] || ln -s "$e" "$to/$name"
        elif [[ -d "$e" ]]; then
          if [[ -L "$to/$name" || ( -e "$to/$name" && ! -d "$to/$name" ) ]]; then continue; fi
          __lndir "$e" "$to/$name"
        else
          [[ -e "$to/$name" || -L "$to/$name" ]] || ln -s "$e" "$to/$name"
        fi
      done
    }
  '';

  # A shell script checked with `bash -n`; `extra` adds writeTextFile arguments.
  shellScript = extra: name: text: final.writeTextFile ({
    inherit name;
    executable = true;
    text = ''
      #!${runtimeShell}
      ${text}
    '';
    checkPhase = ''
      ${stdenv.shellDryRun} "$target"
    '';
  } // extra);
in
rec {
  runCommandWith =
    { stdenv ? stdenvNoCC, name, runLocal ? false, derivationArgs ? { } }:
    buildCommand:
    stdenv.mkDerivation ({
      enableParallelBuilding = true;
      inherit buildCommand name;
      passAsFile = [ "buildCommand" ] ++ (derivationArgs.passAsFile or [ ]);
    }
    // lib.optionalAttrs runLocal { preferLocalBuild = true; allowSubstitutes = false; }
    // builtins.removeAttrs derivationArgs [ "passAsFile" ]);

  runCommand = name: env: runCommandWith { stdenv = stdenvNoCC; runLocal = false; inherit name; derivationArgs = env; };
  runCommandNoCC = runCommand;
  runCommandLocal = name: env: runCommandWith { stdenv = stdenvNoCC; runLocal = true; inherit name; derivationArgs = env; };
  runCommandCC = name: env: runCommandWith { stdenv = final.stdenv; runLocal = false; inherit name; derivationArgs = env; };

  writeTextFile =
    { name
    , text
    , executable ? false
    , destination ? ""
    , checkPhase ? ""
    , meta ? { }
    , passthru ? { }
    , allowSubstitutes ? false
    , preferLocalBuild ? true
    , derivationArgs ? { }
    }:
    let matches = builtins.match "/bin/([^/]+)" destination; in
    assert lib.assertMsg (destination != "" -> (lib.hasPrefix "/" destination && destination != "/"))
      "destination must be an absolute path, relative to the derivation's out path, got '${destination}' instead.";
    runCommand name ({
      inherit text executable checkPhase allowSubstitutes preferLocalBuild;
      passAsFile = [ "text" ] ++ derivationArgs.passAsFile or [ ];
      meta = lib.optionalAttrs (executable && matches != null) {
        mainProgram = lib.head matches;
      } // meta;
      inherit passthru;
    } // builtins.removeAttrs derivationArgs [ "passAsFile" ]) ''
      target=$out${lib.escapeShellArg destination}
      mkdir -p "$(dirname "$target")"
      if [ -e "''${textPath:-}" ]; then
        mv "$textPath" "$target"
      else
        printf '%s' "$text" > "$target"
      fi
      if [ -n "$executable" ]; then
        chmod +x "$target"
      fi
      eval "$checkPhase"
    '';

  writeText = name: text: writeTextFile { inherit name text; };
  writeTextDir = path: text: writeTextFile {
    inherit text;
    name = builtins.baseNameOf path;
    destination = "/${path}";
  };
  writeScript = name: text: writeTextFile { inherit name text; executable = true; };
  writeScriptBin = name: text: writeTextFile {
    inherit name text; executable = true; destination = "/bin/${name}";
    meta.mainProgram = name;
  };
  writeShellScript = shellScript { };
  writeShellScriptBin = name: shellScript { destination = "/bin/${name}"; meta.mainProgram = name; } name;

  writeShellApplication =
    { name
    , text
    , runtimeInputs ? [ ]
    , runtimeEnv ? null
    , meta ? { }
    , passthru ? { }
    , checkPhase ? null
    , excludeShellChecks ? [ ]
    , extraShellCheckFlags ? [ ]
    , bashOptions ? [ "errexit" "nounset" "pipefail" ]
    , derivationArgs ? { }
    , inheritPath ? true
    }:
    writeTextFile {
      inherit name meta passthru derivationArgs;
      executable = true;
      destination = "/bin/${name}";
      allowSubstitutes = true;
      preferLocalBuild = false;
      text = ''
        #!${runtimeShell}
        ${lib.concatMapStringsSep "\n" (option: "set -o ${option}") bashOptions}
      '' + lib.optionalString (runtimeEnv != null)
        (lib.concatStrings (lib.mapAttrsToList (n: v: ''
          export ${n}=${lib.escapeShellArg (toString v)}
        '') runtimeEnv))
      + lib.optionalString (runtimeInputs != [ ]) ''

        export PATH="${lib.makeBinPath runtimeInputs}${lib.optionalString inheritPath ":$PATH"}"
      '' + ''

        ${text}
      '';
      # No shellcheck on the fixture machine: a syntax check only.
      checkPhase =
        if checkPhase == null then ''
          runHook preCheck
          ${stdenv.shellDryRun} "$target"
          runHook postCheck
        '' else checkPhase;
    };

  symlinkJoin =
    args_@{ name, paths, preferLocalBuild ? true, allowSubstitutes ? false, postBuild ? "", ... }:
    let
      args = builtins.removeAttrs args_ [ "name" "postBuild" ] // {
        inherit preferLocalBuild allowSubstitutes;
        passAsFile = [ "paths" ];
      };
    in
    runCommand name args ''
      ${lndirShell}
      mkdir -p $out
      if [ -e "''${pathsPath:-}" ]; then read -r -a __paths < "$pathsPath" || true; else __paths=(''${paths[@]}); fi
      for i in "''${__paths[@]}"; do
        # nixpkgs runs lndir, which refuses a file
        if [ -d "$i" ]; then __lndir "$i" "$out"; else echo "lndir: $i: Not a directory" >&2; exit 1; fi
      done
      ${postBuild}
    '';

  buildEnv =
    { name
    , paths
    , pathsToLink ? [ "/" ]
    , extraOutputsToInstall ? [ ]
    , postBuild ? ""
    , ignoreCollisions ? false
    , checkCollisionContents ? true
    , extraPrefix ? ""
    , ignoreSingleFileOutputs ? false
    , includeClosures ? false
    , nativeBuildInputs ? [ ]
    , buildInputs ? [ ]
    , passthru ? { }
    , meta ? { }
    , manifest ? ""
    , extraPaths ? [ ]
    , pname ? null
    , version ? null
    , ...
    }:
    runCommand name {
      inherit nativeBuildInputs buildInputs passthru meta;
      paths = map toString (paths ++ lib.concatMap (p: map (o: p.${o}) (lib.filter (o: p ? ${o}) extraOutputsToInstall)) paths);
      pathsToLink = pathsToLink;
      ignoreCollisions = ignoreCollisions;
      __structuredAttrs = true;
      preferLocalBuild = true;
      allowSubstitutes = false;
    } ''
      ${lndirShell}
      mkdir -p "$out${extraPrefix}"
      for p in "''${paths[@]}"; do
        [ -d "$p" ] || continue
        for sub in "''${pathsToLink[@]}"; do
          [ -d "$p$sub" ] || continue
          __lndir "$p$sub" "$out${extraPrefix}$sub"
        done
      done
      ${postBuild}
    '';

  # cf. nixpkgs' closureInfo: uses exportReferencesGraph + structured attrs.
  closureInfo = { rootPaths }:
    runCommand "closure-info" {
      __structuredAttrs = true;
      exportReferencesGraph.closure = rootPaths;
      preferLocalBuild = true;
      empty = rootPaths == [ ];
    } ''
      mkdir "$out"
      if [[ -n "$empty" ]]; then
        echo 0 > "$out/total-nar-size"
        touch "$out/registration" "$out/store-paths"
      else
        jq -r '.closure | map(.narSize) | add' < "$NIX_ATTRS_JSON_FILE" > "$out/total-nar-size"
        jq -r '.closure | map([.path, .narHash, .narSize, "", (.references | length)] + .references) | add | map("\(.)\n") | add' \
          < "$NIX_ATTRS_JSON_FILE" | head -n -1 > "$out/registration"
        jq -r '.closure[].path' < "$NIX_ATTRS_JSON_FILE" > "$out/store-paths"
      fi
    '';
}
