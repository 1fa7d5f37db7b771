"""Nixery's manifest-output.json: the registry manifest of the image and
where each blob is (``layerLocations``: digest hex -> path and base64 md5),
and this toolkit's addition, which Nixery's server ignores: ``sbom``, the
path of the image's CycloneDX SBOM (sbom.py), which push and the registry
server send beside the image.

Uncompressed and gzip layers give a Docker manifest (schema 2); zstd, which
Docker's media types have no name for, an OCI manifest, which carries the
config's org.opencontainers.image.* labels as its annotations (Docker's
manifest has no annotations). The layers' digests
and md5 sums come from their derivations: nothing here reads a layer.
"""

import base64
import hashlib
import json

from layers import dumps

MEDIA_TYPES = {
    # compression: (manifest, config, layer)
    "none": ("application/vnd.docker.distribution.manifest.v2+json",
             "application/vnd.docker.container.image.v1+json",
             "application/vnd.docker.image.rootfs.diff.tar"),
    "gzip": ("application/vnd.docker.distribution.manifest.v2+json",
             "application/vnd.docker.container.image.v1+json",
             "application/vnd.docker.image.rootfs.diff.tar.gzip"),
    "zstd": ("application/vnd.oci.image.manifest.v1+json",
             "application/vnd.oci.image.config.v1+json",
             "application/vnd.oci.image.layer.v1.tar+zstd"),
}


def manifest_output(config_file, compression, sbom, layers):
    manifest_type, config_type, layer_type = MEDIA_TYPES[compression]
    with open(config_file, "rb") as f:
        config = f.read()
    config_sha256 = hashlib.sha256(config).hexdigest()
    locations = {config_sha256: {"path": config_file, "md5": _base64(hashlib.md5(config).hexdigest())}}
    for layer in layers:
        if layer.blob is None:
            raise SystemExit(f"manifest: layer {layer.folder} has no blob")
        locations[layer.blob_digest.removeprefix("sha256:")] = {"path": layer.blob, "md5": _base64(layer.md5)}
    manifest = {
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": {"mediaType": config_type, "size": len(config), "digest": "sha256:" + config_sha256},
        "layers": [{"mediaType": _layer_type(layer, manifest_type, layer_type), "size": layer.blob_size,
                    "digest": layer.blob_digest} for layer in layers],
    }
    labels = json.loads(config)["config"].get("Labels") or {}
    annotations = {k: v for k, v in labels.items() if k.startswith("org.opencontainers.image.")}
    if compression == "zstd" and annotations:
        manifest["annotations"] = annotations
    return dumps({
        "manifest": manifest,
        "layerLocations": locations,
        "sbom": sbom,
    })


def _layer_type(layer, manifest_type, layer_type):
    """A layer's media type: the image's, but for a base image's layer (kept
    as it was) the one of its own compression, in the manifest's family."""
    if layer.compression is None:
        return layer_type
    family = LAYER_TYPES[manifest_type]
    if layer.compression not in family:
        raise SystemExit(f"manifest: the base image has {layer.compression} layers, which a Docker manifest "
                         f"can't name: build with compression = \"zstd\" (an OCI manifest)")
    return family[layer.compression]


# A base image's layers by their compression, in each manifest family.
LAYER_TYPES = {
    MEDIA_TYPES["none"][0]: {"none": MEDIA_TYPES["none"][2], "gzip": MEDIA_TYPES["gzip"][2]},
    MEDIA_TYPES["zstd"][0]: {"none": "application/vnd.oci.image.layer.v1.tar",
                             "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
                             "zstd": MEDIA_TYPES["zstd"][2]},
}


def _base64(hex_digest):
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()
