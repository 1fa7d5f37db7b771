"""Multi-platform images: with ``--systems``, every image is built once for
each Nix system (the wrapper's ``--argstr system``), and a tag answers an OCI
image index of those images to a client that accepts one (docker, podman,
containerd and skopeo do, and then pick their platform); a client that
accepts only image manifests gets the first system's image.

Each entry's platform is read from its image's config (os, architecture,
variant), which the build wrote for the system it built for: an image is
never labelled with a platform it was not built for.
"""

import json

from .manifests import OCI_INDEX, OCI_MANIFEST, accepted

DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


def wants_index(accept_headers):
    """Whether a request's Accept header lines name an index or a Docker
    manifest list (with a q-value above 0)."""
    ranges = accepted(accept_headers)
    return any(ranges.get(kind, 0) > 0 for kind in (OCI_INDEX, DOCKER_LIST))


def index(storage, records):
    """Store the image index of the images `records` (one per system, each
    {"docker": hex, "oci": hex}); its digest (hex)."""
    entries = []
    for record in records:
        manifest = storage.manifest(record["oci"])
        config_digest = json.loads(manifest)["config"]["digest"].removeprefix("sha256:")
        with open(storage.blob(config_digest).path, "rb") as f:
            config = json.load(f)
        platform = {key: config[key] for key in ("architecture", "os", "variant") if key in config}
        entries.append({"mediaType": OCI_MANIFEST, "digest": f"sha256:{record['oci']}", "size": len(manifest),
                        "platform": platform})
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    return storage.put_manifest(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())
