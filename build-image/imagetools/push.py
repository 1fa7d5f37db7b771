"""Pushes an image built by ``buildImage`` (its manifest-output.json) to a
registry with skopeo.

The manifest and the blobs it names (``layerLocations``, in the store) are
laid out as skopeo's ``dir:`` transport reads them (links, nothing copied),
and ``skopeo copy dir:... docker://...`` sends them. skopeo asks the registry
for each blob first (HEAD) and uploads only those it lacks, so layers shared
with images pushed before are not sent again.
"""

import json
import os
import subprocess
import sys
import tempfile

from layers import dumps


def main(arguments):
    if len(arguments) < 2 or arguments[0] in ("-h", "--help"):
        print("usage: push MANIFEST-OUTPUT DESTINATION [SKOPEO-COPY-OPTION...]\n"
              "  MANIFEST-OUTPUT  buildImage's manifest-output.json (e.g. ./result)\n"
              "  DESTINATION      e.g. docker://registry.example/web:v1\n"
              "  options go to `skopeo copy`, e.g. --dest-tls-verify=false",
              file=sys.stderr)
        return 0 if arguments[:1] in (["-h"], ["--help"]) else 2
    source, destination, options = arguments[0], arguments[1], arguments[2:]
    try:
        with open(source, encoding="utf-8") as f:
            output = json.load(f)
        manifest, locations = output["manifest"], output["layerLocations"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"push: {source}: not a manifest-output.json of buildImage ({error})", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="group-layers-push-") as layout:
        with open(os.path.join(layout, "version"), "w") as f:
            f.write("Directory Transport Version: 1.1\n")
        with open(os.path.join(layout, "manifest.json"), "wb") as f:
            f.write(dumps(manifest))
        for digest, location in locations.items():
            os.symlink(location["path"], os.path.join(layout, digest))
        return subprocess.run(["skopeo", "copy", *options, "dir:" + layout, destination]).returncode
