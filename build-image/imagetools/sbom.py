"""The image's SBOM, CycloneDX 1.5 JSON, from its closure graph.

Nix already knows everything an SBOM asks for: the derivation that runs this
(build-image/sbom.nix) gets the image's runtime graph from
``exportReferencesGraph`` (structured attributes: every store path with its
NAR hash and size and its references), and the layers' records tell which
layer holds each path. Every store path of the image is one component:

  bom-ref, properties nix:store-path   the store path (unique)
  name, version        the path's name split as builtins.parseDrvName does
                       ("python3.11-requests-2.31.0" -> "python3.11-requests",
                       "2.31.0")
  purl                 pkg:nix/<name>@<version>
  hashes               its NAR hash (SHA-256, hex); nix:nar-hash keeps Nix's
                       spelling, nix:nar-size its size
  properties           oci:layer-digest (the blob's digest, as in the
                       manifest) and oci:layer-diff-id of the layer holding it
  dependencies         its references (itself left out)

The image is metadata.component (type container), depending on the roots
(the packages and contents asked for). No timestamp, and a serial number
derived from the content: the same image gives the same bytes.
"""

import base64
import json
import os
import uuid

from layers import dumps

NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"


def sha256_hex(nar_hash):
    """Nix's spellings of a sha256 (sha256:<nix32 or hex>, sha256-<base64>)
    as hex."""
    if nar_hash.startswith("sha256-"):
        return base64.b64decode(nar_hash[7:]).hex()
    text = nar_hash.removeprefix("sha256:")
    if len(text) == 64:
        return text
    decoded = bytearray(32)
    for n, char in enumerate(reversed(text)):
        digit, bit = NIX32.index(char), n * 5
        byte, shift = divmod(bit, 8)
        decoded[byte] |= (digit << shift) & 0xFF
        if shift > 3 and byte + 1 < 32:
            decoded[byte + 1] |= digit >> (8 - shift)
    return decoded.hex()


def parse_name(store_path):
    """(name, version) of a store path, as builtins.parseDrvName splits its
    name: the version starts after the first dash not followed by a letter."""
    full = os.path.basename(store_path)[33:]
    for i, char in enumerate(full[:-1]):
        if char == "-" and not full[i + 1].isalpha():
            return full[:i], full[i + 1:]
    return full, ""


def cyclonedx(graph, roots, layers, image_name, image_version):
    holder = {path: layer for layer in layers for path in layer.paths}
    components, dependencies = [], []
    for entry in sorted(graph, key=lambda e: e["path"]):
        path = entry["path"]
        name, version = parse_name(path)
        layer = holder[path]
        component = {
            "type": "library",
            "bom-ref": path,
            "name": name,
            "purl": f"pkg:nix/{name}" + (f"@{version}" if version else ""),
            "hashes": [{"alg": "SHA-256", "content": sha256_hex(entry["narHash"])}],
            "properties": [
                {"name": "nix:store-path", "value": path},
                {"name": "nix:nar-hash", "value": entry["narHash"]},
                {"name": "nix:nar-size", "value": str(entry["narSize"])},
                {"name": "oci:layer-digest", "value": layer.blob_digest},
                {"name": "oci:layer-diff-id", "value": layer.diff_id},
            ],
        }
        if version:
            component["version"] = version
        components.append(component)
        dependencies.append({"ref": path, "dependsOn": sorted(r for r in entry["references"] if r != path)})
    image = {"type": "container", "bom-ref": "image", "name": image_name}
    if image_version:
        image["version"] = image_version
    dependencies.insert(0, {"ref": "image", "dependsOn": sorted(set(roots))})
    body = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "tools": {"components": [{"type": "application", "name": "group-layers"}]},
            "component": image,
        },
        "components": components,
        "dependencies": dependencies,
    }
    serial = uuid.uuid5(uuid.NAMESPACE_URL, "group-layers-sbom:" + dumps(body).decode())
    return dumps({"$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json", **body,
                  "serialNumber": serial.urn})


def main(attrs_file, image_name, image_version, layers):
    """Writes the SBOM to the derivation's output, named in ATTRS_FILE (the
    structured attributes, which also hold the graph and the roots)."""
    with open(attrs_file, encoding="utf-8") as f:
        attrs = json.load(f)
    roots = attrs.get("roots", [])
    document = cyclonedx(attrs.get("graph", []), roots if isinstance(roots, list) else [roots],
                         layers, image_name, image_version)
    with open(attrs["outputs"]["out"], "wb") as f:
        f.write(document)
    return 0
