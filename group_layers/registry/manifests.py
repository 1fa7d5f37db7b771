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
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
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


def _quality(ranges, media_type):
    """The q-value `ranges` give `media_type`: that of the most specific
    range that matches it (RFC 9110, 12.5.1), 0 if none does."""
    kind = media_type.split("/")[0] + "/*"
    for candidate in (media_type, kind, "*/*"):
        if candidate in ranges:
            return ranges[candidate]
    return 0.0


def accepted(accept_headers):
    """{media range: q-value} of every Accept header line (RFC 9110: the
    lines of a field are one comma-separated list; q defaults to 1; a q that
    does not parse counts as 0)."""
    ranges = {}
    for line in accept_headers:
        for part in line.split(","):
            media_range, *parameters = [p.strip() for p in part.split(";")]
            if not media_range:
                continue
            q = 1.0
            for parameter in parameters:
                key, _, value = parameter.partition("=")
                if key.strip().lower() == "q":
                    try:
                        q = min(max(float(value.strip()), 0.0), 1.0)
                    except ValueError:
                        q = 0.0
            media_range = media_range.lower()
            ranges[media_range] = max(q, ranges.get(media_range, 0.0))
    return ranges


def choose(accept_headers):
    """Which manifest to answer with, from a request's Accept header lines:
    the one with the higher q-value; Docker's when they tie (when nothing is
    said, too), and when neither is acceptable (the client then decides)."""
    ranges = accepted(accept_headers)
    if not ranges:
        return DOCKER_MANIFEST
    docker, oci = _quality(ranges, DOCKER_MANIFEST), _quality(ranges, OCI_MANIFEST)
    return OCI_MANIFEST if oci > docker else DOCKER_MANIFEST
