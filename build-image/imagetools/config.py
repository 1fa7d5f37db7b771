"""The image config: the base Nix wrote (architecture, os, config, ...) with
the layers' diff_ids and one history entry a layer added; on a base image
(``fromImage``, base.py), merged with that image's config.

The merge, what docs/images.md states as the rule:
  - the platform (os, architecture, variant) must be the same: an image is
    never labelled with a platform it was not built for;
  - Env: the base's, then ours; a variable set by both takes our value;
  - Entrypoint, WorkingDir, User and every other key: ours if set, else the
    base's; Cmd likewise, but an Entrypoint of ours without a Cmd drops the
    base's Cmd (as Docker's ENTRYPOINT does);
  - Labels: the base's and ours, ours winning key by key; ExposedPorts and
    Volumes: both;
  - history: the base's as it was, then ours; rootfs: the base's layers
    first, unchanged.
PATH=/bin is then added to Env unless it sets PATH.
"""

import json

from layers import dumps

UNION = ("Labels", "ExposedPorts", "Volumes")


def config(base_file, layers, from_file=None):
    with open(base_file, encoding="utf-8") as f:
        document = json.load(f)
    ours = [layer for layer in layers if not layer.base]
    history = [{"created": document["created"], "created_by": "group-layers", "comment": layer.comment}
               for layer in ours]
    if from_file is not None:
        with open(from_file, encoding="utf-8") as f:
            base = json.load(f)
        document["config"] = merge(base.get("config") or {}, document["config"])
        _check_platform(base, document)
        base_layers = len(layers) - len(ours)
        base_history = base.get("history") or [{"created_by": "fromImage", "comment": "base image layer"}
                                               for _ in range(base_layers)]
        history = base_history + history
    env = document["config"].get("Env", [])
    if not any(e.startswith("PATH=") for e in env):
        document["config"]["Env"] = ["PATH=/bin", *env]
    document["rootfs"] = {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}
    document["history"] = history
    return dumps(document)


def merge(base, ours):
    merged = {**base, **ours}
    names = [e.split("=", 1)[0] for e in ours.get("Env", [])]
    merged["Env"] = [e for e in base.get("Env") or [] if e.split("=", 1)[0] not in names] + ours.get("Env", [])
    if "Entrypoint" in ours and "Cmd" not in ours:
        merged.pop("Cmd", None)
    for key in UNION:
        if key in base or key in ours:
            merged[key] = {**(base.get(key) or {}), **ours.get(key, {})}
    return {key: value for key, value in merged.items() if value is not None}


def _check_platform(base, document):
    def platform(config):
        return "/".join(p for p in (config.get("os"), config.get("architecture"), config.get("variant")) if p)

    if platform(base) != platform(document):
        raise SystemExit(f"group-layers: fromImage is for {platform(base)}, this image is for "
                         f"{platform(document)}; build it for the base's platform or take a base of its own")
