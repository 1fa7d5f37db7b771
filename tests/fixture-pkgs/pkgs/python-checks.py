"""The checks nixpkgs' buildPythonPackage runs on a built wheel, for the
offline package set (python.nix), with nixpkgs' kind of messages:

  metadata PNAME VERSION DIR...   pythonMetadataCheckHook: the distribution
      named PNAME (names compared normalised, as importlib.metadata does) is
      installed and its METADATA version equals VERSION (PEP 440 comparison);
  runtime-deps WHEEL DIR...       pythonRuntimeDepsCheckHook: every
      Requires-Dist of the wheel whose marker holds is installed in a version
      its specifier allows (pre-releases allowed).

Distributions are looked up in the DIRs only (the package's own site-packages
and its inputs', as PYTHONPATH has them in a nixpkgs build), never in the
host's dist-packages, which the offline set's interpreter also sees: a
dependency the derivation does not declare is missing here as it is in
nixpkgs.
"""

import sys
import zipfile
from email.parser import HeaderParser
from importlib.metadata import Distribution

from packaging.requirements import Requirement
from packaging.version import InvalidVersion, Version


def find(name, dirs):
    """The first distribution called `name` in `dirs`, or None."""
    return next(iter(Distribution.discover(name=name, path=dirs)), None)


def metadata(pname, version, *dirs):
    dist = find(pname, list(dirs))
    if dist is None:
        print(f"importlib.metadata.PackageNotFoundError: No package metadata was found for {pname}", file=sys.stderr)
        print("This usually means that the derivation's pname does not correspond to the project name, "
              "as found on PyPI, in pyproject.toml, or in setup.{py,cfg}.", file=sys.stderr)
        return 1
    try:
        wanted = Version(version)
    except InvalidVersion as e:
        print(f"{e} (the derivation's version)", file=sys.stderr)
        return 1
    if wanted != Version(dist.version):
        print(f"The '{pname}' derivation has version '{version}' but .dist-info/METADATA "
              f"specifies version '{dist.version}'.", file=sys.stderr)
        return 1
    return 0


def runtime_deps(wheel, *dirs):
    with zipfile.ZipFile(wheel) as archive:
        name = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA")), None)
        if name is None:
            print(f"no .dist-info/METADATA in {wheel}", file=sys.stderr)
            return 1
        headers = HeaderParser().parsestr(archive.read(name).decode("utf-8"))
    ok = True
    for line in headers.get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        dist = find(requirement.name, list(dirs))
        if dist is None:
            print(f"  - {requirement.name} not installed", file=sys.stderr)
            ok = False
            continue
        requirement.specifier.prereleases = True
        if requirement.specifier and dist.version not in requirement.specifier:
            print(f"  - {requirement.name}{requirement.specifier} not satisfied by version {dist.version}",
                  file=sys.stderr)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    sys.exit({"metadata": metadata, "runtime-deps": runtime_deps}[command](*arguments))
