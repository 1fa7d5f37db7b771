"""The media types served, and the OCI form of the toolkit's manifest.

The toolkit builds a Docker Image Manifest V2, Schema 2
(``application/vnd.docker.distribution.manifest.v2+json``).  A client that
accepts it (or sends no Accept header) gets it as built.  A client that
accepts only ``application/vnd.oci.image.manifest.v1+json`` gets the
equivalent OCI manifest: the same config and layer blobs, byte for byte,
under their OCI media types.  Whatever layer media type the toolkit writes
(uncompressed tar today, gzip or zstd if it compresses) is kept, mapped to
its OCI name; an unknown one is passed on unchanged.
"""

import json

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MANIFEST_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)

DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

# Docker layer media type -> OCI's.
OCI_LAYER = {
    "application/vnd.docker.image.rootfs.diff.tar": "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
}


def encode(manifest):
    """Canonical bytes: the digest of a manifest is the digest of these."""
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def to_oci(manifest):
    """The OCI image manifest with the same blobs as the Docker one."""
    def descriptor(d, media_type):
        return {**d, "mediaType": media_type}

    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(manifest["config"], OCI_CONFIG),
        "layers": [descriptor(l, OCI_LAYER.get(l["mediaType"], l["mediaType"])) for l in manifest["layers"]],
    }


def media_type(data):
    """The media type a stored manifest declares."""
    return json.loads(data)["mediaType"]


def choose(accept_header):
    """Which manifest to answer a request with, from its Accept header:
    Docker's when accepted (or when nothing is said), else OCI's when
    accepted, else Docker's (clients then decide)."""
    accepted = set()
    for part in (accept_header or "").split(","):
        accepted.add(part.split(";")[0].strip().lower())
    if not accepted - {""} or DOCKER_MANIFEST in accepted or "*/*" in accepted:
        return DOCKER_MANIFEST
    if OCI_MANIFEST in accepted:
        return OCI_MANIFEST
    return DOCKER_MANIFEST
