"""Pushes an image built by ``buildImage`` (its manifest-output.json) to a
registry with skopeo.

The manifest and the blobs it names (``layerLocations``, in the store) are
laid out as skopeo's ``dir:`` transport reads them (links, nothing copied),
and ``skopeo copy dir:... docker://...`` sends them. skopeo asks the registry
for each blob first (HEAD) and uploads only those it lacks, so layers shared
with images pushed before are not sent again.

An ``index`` result (an OCI layout of a multi-platform image, index.py) is
sent whole by ``skopeo copy --all``.

The image's SBOM (manifest-output.json's ``sbom``) follows, as an OCI
artifact whose ``subject`` is the manifest just pushed (referrer.py), tagged
``sha256-<hex>.sbom`` beside it.
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile

import referrer
from layers import dumps


def main(arguments):
    if len(arguments) < 2 or arguments[0] in ("-h", "--help"):
        print("usage: push MANIFEST-OUTPUT|INDEX DESTINATION [SKOPEO-COPY-OPTION...]\n"
              "  MANIFEST-OUTPUT  buildImage's manifest-output.json (e.g. ./result)\n"
              "  INDEX            an `index` result (a multi-platform image's OCI layout)\n"
              "  DESTINATION      e.g. docker://registry.example/web:v1\n"
              "  options go to `skopeo copy`, e.g. --dest-tls-verify=false",
              file=sys.stderr)
        return 0 if arguments[:1] in (["-h"], ["--help"]) else 2
    source, destination, options = arguments[0], arguments[1], arguments[2:]
    if os.path.exists(os.path.join(source, "oci-layout")):
        with open(os.path.join(source, "index.json"), encoding="utf-8") as f:
            ref = json.load(f)["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"]
        return subprocess.run(["skopeo", "copy", "--all", *options, f"oci:{source}:{ref}", destination]).returncode
    try:
        with open(source, encoding="utf-8") as f:
            output = json.load(f)
        manifest, locations = output["manifest"], output["layerLocations"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"push: {source}: not a manifest-output.json of buildImage ({error})", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="group-layers-push-") as work:
        layout = os.path.join(work, "image")
        os.mkdir(layout)
        with open(os.path.join(layout, "version"), "w") as f:
            f.write("Directory Transport Version: 1.1\n")
        data = dumps(manifest)
        with open(os.path.join(layout, "manifest.json"), "wb") as f:
            f.write(data)
        for digest, location in locations.items():
            os.symlink(location["path"], os.path.join(layout, digest))
        digest_file = os.path.join(work, "digest")
        status = subprocess.run(["skopeo", "copy", *options, "--digestfile", digest_file,
                                 "dir:" + layout, destination]).returncode
        if status != 0 or not output.get("sbom"):
            return status
        with open(digest_file, encoding="utf-8") as f:
            pushed = f.read().strip()
        # skopeo may have changed the manifest (it compresses uncompressed
        # layers for a registry): the subject is the manifest as stored.
        stored = subprocess.run(["skopeo", "inspect", "--raw", *_inspect_options(options), destination],
                                capture_output=True)
        if stored.returncode != 0 or "sha256:" + hashlib.sha256(stored.stdout).hexdigest() != pushed:
            print(f"push: could not read back the manifest pushed ({pushed}); the SBOM is not pushed: "
                  f"{stored.stderr.decode(errors='replace').strip()}", file=sys.stderr)
            return 1
        subject = {"mediaType": json.loads(stored.stdout)["mediaType"], "digest": pushed, "size": len(stored.stdout)}
        with open(output["sbom"], "rb") as f:
            sbom = f.read()
        artifact = os.path.join(work, "sbom")
        os.mkdir(artifact)
        referrer.layout(artifact, sbom, subject)
        repository = destination.rsplit("@", 1)[0]
        if repository.rfind(":") > repository.rfind("/"):
            repository = repository[:repository.rfind(":")]
        return subprocess.run(["skopeo", "copy", *options, "dir:" + artifact,
                               f"{repository}:{referrer.tag(pushed)}"]).returncode


# `skopeo copy`'s options for the destination that `skopeo inspect` takes
# for its one image, under its own names.
INSPECT_OPTIONS = ("tls-verify", "creds", "authfile", "cert-dir", "registry-token", "username", "password")


def _inspect_options(options):
    kept = []
    for option in options:
        name = option.removeprefix("--dest-").split("=", 1)[0]
        if option.startswith("--dest-") and name in INSPECT_OPTIONS:
            kept.append("--" + option.removeprefix("--dest-"))
    return kept
