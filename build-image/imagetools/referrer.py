"""The SBOM as an OCI artifact that refers to its image (OCI image spec 1.1):
an image manifest with ``artifactType`` application/vnd.cyclonedx+json, the
empty config (``{}``), the SBOM as its one layer, and ``subject``, the image
manifest's descriptor. A registry with the referrers API
(``GET /v2/<name>/referrers/<digest>``) lists it there by its subject; it
is also tagged ``sha256-<image digest hex>.sbom`` (the tag scheme of cosign
and the OCI spec's fallback) so that registries without that API keep it
findable.
"""

import hashlib
import json
import os

from layers import dumps

SBOM_TYPE = "application/vnd.cyclonedx+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def descriptor(media_type, data):
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}


def artifact(sbom, subject):
    """The artifact manifest's bytes for the SBOM's bytes and the subject's
    descriptor (mediaType, digest, size)."""
    layer = {**descriptor(SBOM_TYPE, sbom), "annotations": {"org.opencontainers.image.title": "sbom.cdx.json"}}
    return dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": SBOM_TYPE,
        "config": descriptor(EMPTY_TYPE, EMPTY),
        "layers": [layer],
        "subject": subject,
    })


def tag(subject_digest):
    return subject_digest.replace(":", "-") + ".sbom"


def layout(folder, sbom, subject):
    """The artifact laid out for skopeo's dir: transport, in `folder`."""
    manifest = artifact(sbom, subject)
    with open(os.path.join(folder, "version"), "w") as f:
        f.write("Directory Transport Version: 1.1\n")
    with open(os.path.join(folder, "manifest.json"), "wb") as f:
        f.write(manifest)
    for data in (EMPTY, sbom):
        with open(os.path.join(folder, hashlib.sha256(data).hexdigest()), "wb") as f:
            f.write(data)
    return json.loads(manifest)
