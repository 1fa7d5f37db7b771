"""The referrers API (OCI distribution spec 1.1) for the images' SBOMs.

A build's manifest-output.json names the image's CycloneDX SBOM (``sbom``,
see build-image/sbom.nix). When the image is stored, each of its two
manifests (Docker's and OCI's) gets an OCI artifact that refers to it: an
image manifest with ``artifactType`` application/vnd.cyclonedx+json, the
empty config ``{}``, the SBOM as its layer and ``subject`` that manifest;
the artifacts and blobs go into the storage like any other, and the list of
a manifest's referrers is recorded beside them (``referrers/<digest>.json``:
gc keeps an artifact as long as an image record holds its subject).

    GET /v2/<name>/referrers/<digest>[?artifactType=T]

answers the OCI image index of those artifacts (an empty one for a digest
with none, as the spec asks), filtered by artifactType when asked.
"""

import hashlib
import json

from .manifests import OCI_INDEX, OCI_MANIFEST

SBOM_TYPE = "application/vnd.cyclonedx+json"
EMPTY_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"


def _descriptor(media_type, data):
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}


def store(storage, output, subjects):
    """Store the SBOM of `output` (a manifest-output.json) as a referrer of
    each manifest digest (hex) in `subjects`; nothing without an SBOM."""
    if not output.get("sbom"):
        return
    with open(output["sbom"], "rb") as f:
        sbom = f.read()
    sbom_descriptor = _descriptor(SBOM_TYPE, sbom)
    storage.put_blob(sbom_descriptor["digest"].removeprefix("sha256:"), output["sbom"])
    empty = _descriptor(EMPTY_TYPE, EMPTY)
    storage.put_blob(empty["digest"].removeprefix("sha256:"), storage.put_file("empty.json", EMPTY))
    for subject_hex in subjects:
        subject = storage.manifest(subject_hex)
        artifact = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": SBOM_TYPE, "config": empty,
            "layers": [{**sbom_descriptor, "annotations": {"org.opencontainers.image.title": "sbom.cdx.json"}}],
            "subject": {"mediaType": json.loads(subject)["mediaType"], "digest": f"sha256:{subject_hex}",
                        "size": len(subject)},
        }, sort_keys=True, separators=(",", ":")).encode()
        storage.put_manifest(artifact)
        storage.put_referrers(subject_hex, [{**_descriptor(OCI_MANIFEST, artifact), "artifactType": SBOM_TYPE}])


def index(storage, subject_hex, artifact_type=None):
    """(index bytes, whether a filter was applied) for a manifest digest."""
    found = [d for d in storage.referrers(subject_hex) if artifact_type is None or d["artifactType"] == artifact_type]
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": found}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode(), artifact_type is not None
