# The image's SBOM (CycloneDX 1.5 JSON, ./imagetools/sbom.py): one derivation
# that gets the runtime graph of the contents by exportReferencesGraph with
# structured attributes (NAR hashes, sizes, references) and the registry
# layers' records (which layer holds each path, its digests). build-image.nix
# gives it as the result's `.sbom` and names it in manifest-output.json.
{
  lib,
  # build-image.nix's `step` and the image tools' command line.
  step,
  python,
}:
{
  drvName,
  imageName,
  imageVersion,
  contents,
  layers,
}:
step "${drvName}-sbom.cdx.json" [ ]
  ''
    # Current Nix names the attributes' file in $NIX_ATTRS_JSON_FILE; Nix
    # 2.8 writes it in the build folder and, with the sandbox on, names it
    # there by its path outside the sandbox.
    attrs=''${NIX_ATTRS_JSON_FILE:-}
    [ -e "$attrs" ] || attrs=$NIX_BUILD_TOP/.attrs.json
    ${python} sbom "$attrs" \
      ${lib.escapeShellArg imageName} ${lib.escapeShellArg imageVersion} ${toString layers}
  ''
  {
    __structuredAttrs = true;
    exportReferencesGraph.graph = contents;
    roots = contents;
  }
