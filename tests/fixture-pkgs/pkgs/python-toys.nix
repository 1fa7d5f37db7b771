# Toy python packages with the names nixpkgs uses.  Built for real with
# buildPythonPackage from tiny generated setuptools projects, so they have
# real runtime references (propagated dependencies and python3, like
# nixpkgs' python packages) and different sizes.  NOT the real libraries.
{ lib, final }:

pself:
let
  mkToySrc = { pname, version, module, body ? "", padKiB ? 0, dataFile ? null }:
    final.runCommand "${pname}-${version}-source" { } ''
      mkdir -p "$out/${module}"
      cat > "$out/setup.py" <<'EOF_SETUP'
      from setuptools import setup
      setup(
          name=${builtins.toJSON pname},
          version=${builtins.toJSON version},
          packages=[${builtins.toJSON module}],
          package_data={${builtins.toJSON module}: ["*.txt", "*.pem"]},
      )
      EOF_SETUP
      cat > "$out/${module}/__init__.py" <<'EOF_INIT'
      """Toy stand-in for ${pname} (group-layers test fixture, not the real library)."""
      __version__ = ${builtins.toJSON version}
      ${body}
      EOF_INIT
      ${lib.optionalString (padKiB > 0) ''
        # deterministic filler so closures have paths of different sizes
        seq -w 1 ${toString (padKiB * 1024 / 7)} > "$out/${module}/${if dataFile != null then dataFile else "data.txt"}"
      ''}
    '';

  mkToy = { pname, version, module, body ? "", padKiB ? 0, dataFile ? null, dependencies ? [ ] }:
    pself.buildPythonPackage {
      inherit pname version dependencies;
      src = mkToySrc { inherit pname version module body padKiB dataFile; };
      pyproject = true;
      build-system = [ pself.setuptools ];
      pythonImportsCheck = [ module ];
      meta.description = "Toy ${pname} (group-layers fixture)";
    };
in
{
  idna = mkToy { pname = "idna"; version = "3.7"; module = "idna"; padKiB = 40; dataFile = "idnadata.txt"; };
  certifi = mkToy {
    pname = "certifi"; version = "2024.2.2"; module = "certifi"; padKiB = 160; dataFile = "cacert.pem";
    body = ''
      import os.path as _p
      def where():
          return _p.join(_p.dirname(__file__), "cacert.pem")
    '';
  };
  charset-normalizer = mkToy { pname = "charset-normalizer"; version = "3.3.2"; module = "charset_normalizer"; padKiB = 8; };
  urllib3 = mkToy { pname = "urllib3"; version = "2.2.1"; module = "urllib3"; padKiB = 24; };
  requests = mkToy {
    pname = "requests"; version = "2.31.0"; module = "requests"; padKiB = 16;
    dependencies = with pself; [ certifi charset-normalizer idna urllib3 ];
    body = ''
      import certifi, charset_normalizer, idna, urllib3
      def get(url, **kwargs):
          raise NotImplementedError("toy requests (group-layers fixture): no network")
    '';
  };
}
