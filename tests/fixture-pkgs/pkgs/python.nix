# python3 = Debian's /usr/bin/python3 (3.11) and a python3Packages set with
# buildPythonPackage / buildPythonApplication (current nixpkgs arguments).
{ lib, final }:

let
  inherit (final) stdenv;

  pythonVersion = "3.11";
  sitePackages = "lib/python${pythonVersion}/site-packages";

  python3 = stdenv.mkDerivation {
    pname = "python3";
    version = "3.11.2";
    buildCommand = ''
      if ! [ -x /usr/bin/python3 ]; then echo "fixture: /usr/bin/python3 missing" >&2; exit 1; fi
      mkdir -p "$out/bin" "$out/${sitePackages}"
      for b in python3 python python${pythonVersion}; do ln -s /usr/bin/python3 "$out/bin/$b"; done
      mkdir -p "$out/nix-support"
      # like nixpkgs' python setup hook: add each input's site-packages
      cat > "$out/nix-support/setup-hook" <<'HOOK'
    addToPythonPathOf() {
        local dep="$1"
        if [[ -d "$dep/${sitePackages}" && ":''${PYTHONPATH:-}:" != *":$dep/${sitePackages}:"* ]]; then
            export PYTHONPATH="$dep/${sitePackages}''${PYTHONPATH:+:$PYTHONPATH}"
        fi
        if [[ -f "$dep/nix-support/propagated-build-inputs" ]]; then
            local p
            for p in $(cat "$dep/nix-support/propagated-build-inputs"); do addToPythonPathOf "$p"; done
        fi
    }
    for __pyDep in ''${nativeBuildInputs[@]:-} ''${buildInputs[@]:-} ''${propagatedBuildInputs[@]:-}; do
        addToPythonPathOf "$__pyDep"
    done
    unset __pyDep
    HOOK
    '';
    passthru = {
      inherit pythonVersion sitePackages;
      executable = "python${pythonVersion}";
      interpreter = "${python3}/bin/python${pythonVersion}";
      libPrefix = "python${pythonVersion}";
      implementation = "cpython";
      isPy3k = true;
      isPy311 = true;
      pythonAtLeast = lib.versionAtLeast pythonVersion;
      pythonOlder = lib.versionOlder pythonVersion;
      pkgs = final.python3Packages;
      withPackages = withPackages;
      pythonOnBuildForHost = python3;
      pythonForBuild = python3;
      stdenv = final.stdenv;
    };
    meta = { mainProgram = "python${pythonVersion}"; description = "Debian's python3 (host binary, group-layers fixture)"; };
  };

  # Walk propagated-build-inputs (nixpkgs' python packages propagate their
  # dependencies and python itself) and collect site-packages directories.
  collectSitesShell = ''
    __pySites=()
    __pySeen=" "
    __pyCollect() {
      local dep="$1"
      [[ "$__pySeen" == *" $dep "* ]] && return 0
      __pySeen+="$dep "
      if [[ -d "$dep/${sitePackages}" ]]; then __pySites+=("$dep/${sitePackages}"); fi
      if [[ -f "$dep/nix-support/propagated-build-inputs" ]]; then
        local p; for p in $(cat "$dep/nix-support/propagated-build-inputs"); do __pyCollect "$p"; done
      fi
    }
  '';

  withPackages = f:
    let pkgsList = f final.python3Packages; in
    let env = final.runCommand "python3-${python3.version}-env" {
      deps = pkgsList;
      passthru = { python = python3; inherit sitePackages; };
      meta.mainProgram = "python3";
    } ''
      ${collectSitesShell}
      for d in $deps; do __pyCollect "$d"; done
      mkdir -p "$out/bin" "$out/${sitePackages}"
      for s in "''${__pySites[@]}"; do cp -rsn "$s"/* "$out/${sitePackages}"/ 2>/dev/null || true; done
      for b in python3 python python${pythonVersion}; do
        # Debian python ignores NIX_PYTHONPATH; the env is exposed via PYTHONPATH.
        printf '#!%s\nexport PYTHONPATH="%s''${PYTHONPATH:+:$PYTHONPATH}"\nexec %s "$@"\n' \
          "${final.runtimeShell}" "$out/${sitePackages}" "${python3}/bin/python3" > "$out/bin/$b"
        chmod +x "$out/bin/$b"
      done
    ''; in env // { interpreter = "${env}/bin/python3"; };

  # What nixpkgs' mk-python-derivation.nix and its setup hooks do, on the
  # host's interpreter: a wheel built by pypa/build (pypaBuildHook; setup.py
  # bdist_wheel for format "setuptools"), the runtime-dependency check on it
  # before the install (pythonRuntimeDepsCheckHook, pyproject only), the
  # install by pypa/installer (pypaInstallHook), then after the
  # installCheckPhase the imports check (pythonImportsCheckHook) and the
  # metadata check (pythonMetadataCheckHook, pyproject only, when there is a
  # pname and the version is no "unstable-" one). Each can be turned off with
  # nixpkgs' variable (dontCheckRuntimeDeps, dontUsePythonImportsCheck,
  # dontCheckPythonMetadata). The checks look for distributions only in the
  # package's own site-packages and those of its inputs (PYTHONPATH), as in
  # nixpkgs, not in the host's dist-packages: see ./python-checks.py.
  checks = ./python-checks.py;
  mkPythonDerivation = { namePrefix, isApplication }: fnOrAttrs:
    let
      attrs = if lib.isFunction fnOrAttrs then lib.fix (self: fnOrAttrs self) else fnOrAttrs;
      a = {
        format = null; pyproject = null; build-system = [ ]; dependencies = [ ];
        optional-dependencies = { }; propagatedBuildInputs = [ ]; nativeBuildInputs = [ ];
        buildInputs = [ ]; nativeCheckInputs = [ ]; checkInputs = [ ]; doCheck = true;
        pythonImportsCheck = [ ]; dontWrapPythonPrograms = false; meta = { }; passthru = { };
        disabled = false;
      } // attrs;
      name = a.name or "${a.pname}-${a.version}";
      format' =
        if a.pyproject != null then
          (if a.format != null then throw "${name}: `format` and `pyproject` are mutually exclusive"
           else if a.pyproject then "pyproject" else "other")
        else if a.format != null then a.format
        else "setuptools";
      checkMetadata = format' == "pyproject" && attrs ? pname && !(lib.hasInfix "unstable-" (a.version or ""));
      # The hooks' own Python dependencies, which they propagate in nixpkgs.
      hookInputs = lib.optionals (format' != "other") [ final.python3Packages.installer ]
        ++ lib.optionals (format' == "pyproject") (with final.python3Packages; [ wheel packaging ]);
      # $out's site-packages, then PYTHONPATH's folders (the inputs').
      sitesOfBuild = ''"$out/${sitePackages}" $(tr : ' ' <<< "''${PYTHONPATH:-}")'';
    in
    if a.disabled then throw "${name} not supported for interpreter python${pythonVersion}" else
    stdenv.mkDerivation (builtins.removeAttrs attrs [
      "format" "pyproject" "build-system" "dependencies" "optional-dependencies" "disabled"
      "checkInputs" "nativeCheckInputs" "pythonImportsCheck" "dontWrapPythonPrograms" "doCheck"
      "name" "passthru"
    ] // {
      name = namePrefix + name;
      nativeBuildInputs = [ python3 ] ++ hookInputs ++ a.build-system ++ a.nativeBuildInputs
        ++ lib.optionals a.doCheck (a.nativeCheckInputs ++ a.checkInputs);
      propagatedBuildInputs = a.propagatedBuildInputs ++ a.dependencies ++ [ python3 ];
      doCheck = false;
      doInstallCheck = a.doCheck;
      pythonImportsCheck = a.pythonImportsCheck;
      dontWrapPythonPrograms = a.dontWrapPythonPrograms;
      pythonFormat = format';

      buildPhase = attrs.buildPhase or ''
        runHook preBuild
        export HOME="$TMPDIR" PYTHONDONTWRITEBYTECODE=
        case "$pythonFormat" in
          pyproject)
            echo "Creating a wheel..." >&2
            python3 -m build --no-isolation --outdir dist/ --wheel ''${pypaBuildFlags[@]:-} ;;
          setuptools)
            python3 setup.py bdist_wheel --dist-dir dist ;;
          wheel)
            mkdir -p dist; cp "$src" "dist/$(stripHash "$src")" ;;
          other) ;;
          *) echo "fixture buildPythonPackage: unsupported format '$pythonFormat'" >&2; exit 1 ;;
        esac
        runHook postBuild
      '';

      preInstallPhases = lib.optionals (format' == "pyproject") [ "pythonRuntimeDepsCheckPhase" ];
      pythonRuntimeDepsCheckPhase = ''
        if [[ -z "''${dontCheckRuntimeDeps:-}" ]]; then
          for wheel in dist/*.whl; do
            echo "Checking runtime dependencies for $(basename "$wheel")" >&2
            python3 ${checks} runtime-deps "$wheel" ${sitesOfBuild}
          done
        fi
      '';

      installPhase = attrs.installPhase or ''
        runHook preInstall
        if [[ "$pythonFormat" != other ]]; then
          for wheel in dist/*.whl; do
            python3 -m installer --prefix "$out" "$wheel"
            echo "Successfully installed $wheel" >&2
          done
          # Debian's interpreter installs below local/ and into
          # .../dist-packages (its posix_local scheme), and may be newer
          # than pythonVersion (trixie's): move to nixpkgs' places.
          if [[ -d "$out/local" ]]; then cp -a "$out/local/." "$out/"; rm -r "$out/local"; fi
          for d in "$out"/lib/python3*/dist-packages "$out"/lib/python3.*/site-packages; do
            if [[ -d "$d" && "$d" != "$out/${sitePackages}" ]]; then
              mkdir -p "$out/${sitePackages}"; cp -a "$d/." "$out/${sitePackages}/"; rm -r "$d"
            fi
          done
          rmdir "$out"/lib/python3* 2>/dev/null || true
        fi
        export PYTHONPATH="$out/${sitePackages}''${PYTHONPATH:+:$PYTHONPATH}"
        runHook postInstall
      '';

    } // lib.optionalAttrs (a.doCheck && attrs ? checkPhase) {
      # nixpkgs runs a python package's checks as its installCheckPhase; with
      # no checkPhase given, a hook (pytestCheckHook) may provide it.
      installCheckPhase = attrs.checkPhase;
    } // {
      preDistPhases = [ "pythonImportsCheckPhase" ]
        ++ lib.optionals checkMetadata [ "pythonMetadataCheckPhase" ];
      pythonImportsCheckPhase = ''
        if [[ -z "''${dontUsePythonImportsCheck:-}" && -n "''${pythonImportsCheck[*]:-}" ]]; then
          echo "Check whether the following modules can be imported: ''${pythonImportsCheck[*]}" >&2
          (cd "$out" && PYTHONPATH="$out/${sitePackages}''${PYTHONPATH:+:$PYTHONPATH}" python3 -c '
        import importlib, sys
        for module in sys.argv[1:]:
            importlib.import_module(module)' ''${pythonImportsCheck[@]})
        fi
      '';
      pythonMetadataCheckPhase = ''
        if [[ -z "''${dontCheckPythonMetadata:-}" ]]; then
          echo "Executing pythonMetadataCheckPhase" >&2
          python3 ${checks} metadata "$pname" "$version" ${sitesOfBuild}
        fi
      '';

      postFixup = lib.optionalString (!a.dontWrapPythonPrograms) ''
        ${collectSitesShell}
        __pyCollect "$out"
        # like wrapPythonPrograms: make the scripts find their own site-packages
        # and every propagated dependency (prepended, ahead of Debian's).
        __pyList=""
        for s in "''${__pySites[@]}"; do __pyList+="'$s', "; done
        if [[ -d "$out/bin" ]]; then
          for f in "$out"/bin/*; do
            [[ -f "$f" && ! -L "$f" ]] || continue
            first="$(head -n1 "$f")"
            [[ "$first" == "#!"*python* ]] || continue
            {
              echo "#!${python3}/bin/python${pythonVersion}"
              echo "import sys, site; _nix_sites = [''${__pyList}]; _nix_old = list(sys.path); [site.addsitedir(_p) for _p in _nix_sites]; sys.path[:] = [_p for _p in sys.path if _p not in _nix_old] + _nix_old; sys.argv[0] = '$(basename "$f")'"
              tail -n +2 "$f"
            } > "$f.tmp"
            chmod --reference="$f" "$f.tmp"; mv "$f.tmp" "$f"
          done
          rm -rf "$out/bin/__pycache__"
        fi
      '' + (attrs.postFixup or "");

      passthru = a.passthru // {
        inherit (a) dependencies optional-dependencies;
        pythonModule = python3;
        python = python3;
        isApplication = isApplication;
      };
      meta = a.meta;
    });

  # Python modules that Debian already provides on sys.path
  # (python3-networkx, ...): thin markers that verify the module imports and
  # link Debian's metadata (.dist-info or .egg-info) into their own
  # site-packages, so that the checks above find the distribution there.
  hostPythonModule = { pname, version, module, debianPackage }:
    stdenv.mkDerivation {
      name = "python${pythonVersion}-${pname}-${version}";
      inherit pname version;
      propagatedBuildInputs = [ python3 ];
      buildCommand = ''
        if ! /usr/bin/python3 -c "import ${module}" 2>/dev/null; then
          echo "fixture: Debian python module '${module}' missing; apt-get install ${debianPackage}" >&2
          exit 1
        fi
        mkdir -p "$out/${sitePackages}" "$out/nix-support"
        echo "${python3}" > "$out/nix-support/propagated-build-inputs"
        echo "${module} is provided by Debian's ${debianPackage} on the host's sys.path" \
          > "$out/${sitePackages}/README.fixture"
        info=$(/usr/bin/python3 -c 'import importlib.metadata as m, sys; print(m.distribution(sys.argv[1])._path)' ${pname})
        ln -s "$info" "$out/${sitePackages}/$(basename "$info")"
      '';
      passthru = { pythonModule = python3; };
      meta.description = "${pname} from Debian (${debianPackage}), group-layers fixture marker";
    };

  toys = import ./python-toys.nix { inherit lib final; };
in
{
  inherit python3;
  python311 = python3;
  python = python3;
  python311Packages = final.python3Packages;

  # As in nixpkgs: a list of `final: prev:` overlays applied to the python
  # package set.  Overlays may also replace `python3Packages` outright.
  pythonPackagesExtensions = [ ];

  python3Packages = (lib.makeExtensible (self: {
    python = final.python3;
    inherit python3;
    callPackage = final.newScope self;
    pythonOlder = lib.versionOlder pythonVersion;
    pythonAtLeast = lib.versionAtLeast pythonVersion;
    buildPythonPackage = mkPythonDerivation { namePrefix = "python${pythonVersion}-"; isApplication = false; };
    buildPythonApplication = mkPythonDerivation { namePrefix = ""; isApplication = true; };
    toPythonApplication = drv: drv;
    toPythonModule = drv: drv;
    setuptools = hostPythonModule { pname = "setuptools"; version = "66.1.1"; module = "setuptools"; debianPackage = "python3-setuptools"; };
    wheel = hostPythonModule { pname = "wheel"; version = "0.38.4"; module = "wheel"; debianPackage = "python3-wheel"; };
    pip = hostPythonModule { pname = "pip"; version = "23.0.1"; module = "pip"; debianPackage = "python3-pip"; };
    build = hostPythonModule { pname = "build"; version = "0.9.0"; module = "build"; debianPackage = "python3-build"; };
    installer = hostPythonModule { pname = "installer"; version = "0.6.0"; module = "installer"; debianPackage = "python3-installer"; };
    packaging = hostPythonModule { pname = "packaging"; version = "23.0"; module = "packaging"; debianPackage = "python3-packaging"; };
    networkx = hostPythonModule { pname = "networkx"; version = "2.8.8"; module = "networkx"; debianPackage = "python3-networkx"; };
    jsonschema = hostPythonModule { pname = "jsonschema"; version = "4.10.3"; module = "jsonschema"; debianPackage = "python3-jsonschema"; };
    aiohttp = hostPythonModule { pname = "aiohttp"; version = "3.8.4"; module = "aiohttp"; debianPackage = "python3-aiohttp"; };
    # nixpkgs' pytestCheckHook: runs pytest as the installCheckPhase, honouring
    # disabledTests, disabledTestPaths, enabledTestPaths, pytestFlags(Array).
    pytestCheckHook = stdenv.mkDerivation {
      name = "pytest-check-hook";
      propagatedBuildInputs = [ self.pytest ];
      buildCommand = ''
        mkdir -p "$out/nix-support"
        echo "${self.pytest}" > "$out/nix-support/propagated-build-inputs"
        cat > "$out/nix-support/setup-hook" <<'HOOK'
        pytestCheckPhase() {
            runHook preCheck
            local -a args=()
            local t expr=""
            for t in ''${disabledTests[@]:-}; do expr+="''${expr:+ or }$t"; done
            if [[ -n "$expr" ]]; then args+=(-k "not ($expr)"); fi
            for t in ''${disabledTestPaths[@]:-}; do args+=("--ignore=$t"); done
            args+=(''${pytestFlags[@]:-} ''${pytestFlagsArray[@]:-} ''${enabledTestPaths[@]:-})
            echo "executing pytest ''${args[*]}" >&2
            python3 -m pytest -p no:cacheprovider "''${args[@]}"
            runHook postCheck
        }
        if [[ -z "''${dontUsePytestCheck:-}" && -z "''${installCheckPhase:-}" ]]; then
            installCheckPhase=pytestCheckPhase
        fi
        HOOK
      '';
    };
    pytest = hostPythonModule { pname = "pytest"; version = "7.2.1"; module = "pytest"; debianPackage = "python3-pytest"; };
    hypothesis = hostPythonModule { pname = "hypothesis"; version = "6.67.1"; module = "hypothesis"; debianPackage = "python3-hypothesis"; };
  } // toys self)).extend (lib.composeManyExtensions final.pythonPackagesExtensions);
}
