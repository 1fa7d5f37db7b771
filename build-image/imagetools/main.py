"""The image builders' tool after the layers, one command per step:

  main.py config BASE [--from CONFIG] LAYER...    the image config (on the base image
                                                  CONFIG), to stdout
  main.py base SOURCE OUT                         a base image's layers (see base.py)
  main.py manifest CONFIG COMPRESSION SBOM LAYER...
                                                  manifest-output.json, to stdout
  main.py stream CONFIG REPO-TAG LAYER-TAR LAYER...  the docker load archive, to stdout
  main.py sbom ATTRS NAME VERSION LAYER...         the CycloneDX SBOM, to the output
                                                  ATTRS names (see sbom.py)
  main.py index OUT REF MANIFEST-OUTPUT...         an OCI layout of the images' index
  main.py push MANIFEST-OUTPUT|INDEX DESTINATION [SKOPEO-OPTION...]
  main.py split-groups GROUPS FOLDER    one file of store paths a layer of the
                                        engine's GROUPS (000, 001, ...), for
                                        groupAtBuildTime

LAYER is a layer derivation's folder or a folder of layers (see layers.py).
Standard library only: it runs with the package set's python3, at build time
and (stream, push) on the user's machine.
"""

import sys

import layers


def main(argv):
    command, arguments = argv[0], argv[1:]
    if command == "config":
        import config
        from_file, rest = (arguments[2], arguments[3:]) if arguments[1:2] == ["--from"] else (None, arguments[1:])
        sys.stdout.buffer.write(config.config(arguments[0], layers.read(rest), from_file))
    elif command == "base":
        import base
        return base.main(arguments[0], arguments[1])
    elif command == "manifest":
        import manifest
        sys.stdout.buffer.write(manifest.manifest_output(arguments[0], arguments[1], arguments[2],
                                                         layers.read(arguments[3:])))
    elif command == "stream":
        import stream
        return stream.main(arguments[0], arguments[1], arguments[2], layers.read(arguments[3:]))
    elif command == "sbom":
        import sbom
        return sbom.main(arguments[0], arguments[1], arguments[2], layers.read(arguments[3:]))
    elif command == "index":
        import index
        return index.main(arguments[0], arguments[1], arguments[2:])
    elif command == "split-groups":
        _split_groups(*arguments)
    elif command == "push":
        import push
        return push.main(arguments)
    else:
        raise SystemExit(f"main.py: unknown command {command}")
    return 0


def _split_groups(groups_file, folder):
    import json
    import os
    with open(groups_file, encoding="utf-8") as f:
        groups = json.load(f)
    os.makedirs(folder)
    for number, group in enumerate(groups):
        with open(os.path.join(folder, f"{number:03}"), "w", encoding="utf-8") as f:
            f.writelines(path + "\n" for path in group["contents"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
