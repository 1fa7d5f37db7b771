"""What the versions of ``nix path-info --json`` write, beyond the two shapes
the schemas describe (a list before Nix 2.19, an object keyed by store path
after), brought to those shapes or refused with a message that says why.

* For a path that is not valid (not in the store, or not built yet), Nix
  writes ``{"<path>": null}`` (2.19 and later) or ``[{"path": "<path>",
  "valid": false}]`` (before) instead of an entry: refused, naming the path
  and saying to build it first.
* Nix 2.33's ``--json-format 2`` wraps the entries: ``{"version": 2,
  "storeDir": "/nix/store", "info": {"<hash>-<name>": {...}}}``, with store
  paths, keys and references alike, written without the store folder. Read
  as the object form, each path given its store folder back. Other versions
  are refused, naming the version.
"""


def normalise(doc, bad_input):
    """``doc`` in one of the schemas' shapes; ``bad_input(pointer_parts,
    message)`` makes the exception for a document that can't be."""
    if isinstance(doc, dict) and "info" in doc and "version" in doc:
        doc = _unwrap(doc, bad_input)
    if isinstance(doc, dict):
        invalid = next((path for path, entry in doc.items() if entry is None), None)
        if invalid is not None:
            raise bad_input((invalid,), f"null: {invalid} {NOT_VALID}")
    elif isinstance(doc, list):
        i = next((i for i, e in enumerate(doc) if isinstance(e, dict) and e.get("valid") is False), None)
        if i is not None:
            raise bad_input((i, "valid"), f"false: {doc[i].get('path')} {NOT_VALID}")
    return doc


NOT_VALID = ("is not a valid store path (nix path-info says so of a path that is not in the store: "
             "build or fetch it first)")


def _unwrap(doc, bad_input):
    if doc["version"] != 2:
        raise bad_input(("version",), f"nix path-info --json-format {doc['version']} is not supported "
                        "(formats read: 1, the default, and 2)")
    store = doc.get("storeDir")
    if not isinstance(store, str) or not store.startswith("/") or not isinstance(doc["info"], dict):
        raise bad_input((), "nix path-info --json-format 2 output needs a storeDir folder and an info object")

    def full(path):
        return path if path.startswith("/") else f"{store.rstrip('/')}/{path}"

    # Only what the engine reads: other fields (narHash, ...) change shape
    # between formats.
    def entry(info):
        if not isinstance(info, dict) or not isinstance(info.get("references"), list):
            return info  # null, or for the schema to explain
        kept = {key: info[key] for key in ("narSize", "closureSize") if key in info}
        return {**kept, "references": [full(r) if isinstance(r, str) else r for r in info["references"]]}

    return {full(path): entry(info) for path, info in doc["info"].items()}
