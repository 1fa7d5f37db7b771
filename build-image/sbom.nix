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
    ${python} sbom "''${NIX_ATTRS_JSON_FILE:-$NIX_BUILD_TOP/.attrs.json}" \
      ${lib.escapeShellArg imageName} ${lib.escapeShellArg imageVersion} ${toString layers}
  ''
  {
    __structuredAttrs = true;
    exportReferencesGraph.graph = contents;
    roots = contents;
  }
