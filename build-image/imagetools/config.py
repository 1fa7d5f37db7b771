"""The image config: the base Nix wrote (architecture, os, config, ...) with
the layers' diff_ids and one history entry a layer added."""

import json

from layers import dumps


def config(base_file, layers):
    with open(base_file, encoding="utf-8") as f:
        document = json.load(f)
    document["rootfs"] = {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}
    document["history"] = [{"created": document["created"], "created_by": "group-layers",
                            "comment": layer.comment} for layer in layers]
    return dumps(document)
