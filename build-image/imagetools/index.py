"""A multi-platform image: an OCI image index of images built for several
systems (``-A index``), laid out as an OCI image layout folder:

  main.py index OUT REF MANIFEST-OUTPUT...

OUT gets ``oci-layout``, ``index.json`` naming the image index as REF, and
``blobs/sha256/``: the index, each image's manifest in its OCI form (the
same config and layer blobs, OCI media types) and links to the blobs in the
store. Each entry's platform is read from its image's config (os,
architecture, variant): what the image was built for, never anything else.
Two images for one platform are an error. ``skopeo copy --all oci:OUT:REF
docker://...`` (push) sends the whole of it.
"""

import hashlib
import json
import os

import manifest as manifests
from layers import dumps

INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = manifests.MEDIA_TYPES["zstd"][1]
OCI_MANIFEST = manifests.MEDIA_TYPES["zstd"][0]


def main(out, ref, outputs):
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs)
    entries = []
    for path in outputs:
        with open(path, encoding="utf-8") as f:
            output = json.load(f)
        if "error" in output:
            raise SystemExit(f"index: an image was not built ({output['error']}: {', '.join(output['pkgs'])})")
        for digest, location in output["layerLocations"].items():
            if not os.path.exists(os.path.join(blobs, digest)):
                os.symlink(location["path"], os.path.join(blobs, digest))
        image = oci_form(output["manifest"])
        with open(output["layerLocations"][image["config"]["digest"][7:]]["path"], encoding="utf-8") as f:
            config = json.load(f)
        platform = {key: config[key] for key in ("architecture", "os", "variant") if key in config}
        if any(entry["platform"] == platform for entry in entries):
            raise SystemExit(f"index: two images for {platform}")
        entries.append({**_write(blobs, OCI_MANIFEST, dumps(image)), "platform": platform})
    index = _write(blobs, INDEX_TYPE, dumps({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": entries}))
    with open(os.path.join(out, "oci-layout"), "wb") as f:
        f.write(dumps({"imageLayoutVersion": "1.0.0"}))
    with open(os.path.join(out, "index.json"), "wb") as f:
        f.write(dumps({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [
            {**index, "annotations": {"org.opencontainers.image.ref.name": ref}}]}))
    return 0


def oci_form(manifest):
    """An image manifest in its OCI form: the same blobs, OCI media types."""
    if manifest["mediaType"] == OCI_MANIFEST:
        return manifest
    docker_layers = manifests.LAYER_TYPES[manifest["mediaType"]]
    oci_layers = manifests.LAYER_TYPES[OCI_MANIFEST]
    compression = {media_type: name for name, media_type in docker_layers.items()}
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {**manifest["config"], "mediaType": OCI_CONFIG},
        "layers": [{**layer, "mediaType": oci_layers[compression[layer["mediaType"]]]} for layer in manifest["layers"]],
    }


def _write(blobs, media_type, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, digest), "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}
