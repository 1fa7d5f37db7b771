"""The layers of an image as the layer derivations left them (see ../layer.sh).

Every step after the layers (config, manifest, stream, push) reads them here:
each argument is a layer's folder (with layer.json) or a folder of layers
(with a file ``layers`` naming them one a line, as ``groupAtBuildTime``'s
single derivation writes it), bottom layer first.
"""

import json
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    folder: str
    diff_id: str        # "sha256:<hex>" of the uncompressed tar
    size: int           # bytes of the uncompressed tar
    blob: str | None    # the blob's file, when the derivation kept one
    blob_digest: str
    blob_size: int
    md5: str            # the blob's md5 in hex ("" without a blob)
    paths: tuple        # the store paths ((), for the customisation layer)
    compression: str | None = None  # a base image's layer: its blob's ("none", "gzip", "zstd")
    base: bool = False  # a layer of the base image (fromImage, base.py)

    @property
    def comment(self):
        if self.base:
            return "base image layer"
        if not self.paths:
            return "customisation layer"
        return "store paths: " + " ".join(os.path.basename(p)[33:] for p in self.paths)


def read(arguments):
    folders = []
    for argument in arguments:
        if os.path.exists(os.path.join(argument, "layer.json")):
            folders.append(argument)
        else:
            with open(os.path.join(argument, "layers"), encoding="utf-8") as listing:
                folders.extend(line.strip() for line in listing if line.strip())
    return [_layer(folder) for folder in folders]


def _layer(folder):
    with open(os.path.join(folder, "layer.json"), encoding="utf-8") as f:
        info = json.load(f)
    paths_file = os.path.join(folder, "paths")
    paths = ()
    if os.path.exists(paths_file):
        with open(paths_file, encoding="utf-8") as f:
            paths = tuple(line.rstrip("\n") for line in f if line.strip())
    blob = os.path.join(folder, info["blob"]) if info["blob"] else None
    return Layer(folder, info["diffId"], info["size"], blob, info["blobDigest"],
                 info["blobSize"], info["md5"], paths, info.get("compression"), info.get("base", False))


def dumps(value):
    """JSON as the image's files hold it: compact, keys sorted, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
