"""The ``group-layers`` command, a drop-in for Nixery's ``group-layers`` program.

``group-layers --graph FILE --pop FILE --budget N --out FILE`` reads an image's
runtime graph (and popularity data), lets a strategy group its store paths
into at most N layers and writes them as JSON.  ``-`` is stdin / stdout.
Like Go's flag package, options may also be spelled with one dash
(``-budget 93``).
"""

import argparse
import json
import os
import sys
import tempfile

from . import __version__
from .graph import from_document
from .strategies import DEFAULT, STRATEGIES


class BadInput(Exception):
    """A problem with what the user gave us: exit status 2, one line on stderr."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise BadInput(message)


def _parser():
    parser = _Parser(prog="group-layers", allow_abbrev=False, description=__doc__.split("\n")[0])
    option = parser.add_argument
    option("--graph", "-graph", default=".attrs.json", metavar="FILE",
           help="image graph: .attrs.json of exportReferencesGraph, or nix path-info --json "
                "--recursive (default: %(default)s)")
    option("--pop", "-pop", metavar="FILE", help="popularity data (default: none)")
    option("--budget", "-budget", type=int, default=94, metavar="N",
           help="most layers to make (default: %(default)s)")
    option("--out", "-out", default="layers.json", metavar="FILE",
           help="where to write the layers (default: %(default)s)")
    option("--strategy", "-strategy", choices=sorted(STRATEGIES), default=DEFAULT,
           help="layering strategy (default: %(default)s)")
    option("--version", action="version", version=f"group-layers {__version__}")
    return parser


def _read_json(name):
    """The parsed JSON document in file ``name`` (``-``: stdin)."""
    try:
        if name == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(name, "rb") as f:
                data = f.read()
    except OSError as e:
        raise BadInput(f"{name}: {e.strerror}") from None
    try:
        return json.loads(data)
    except ValueError as e:
        raise BadInput(f"{name}: not JSON: {e}") from None


def _write(name, text):
    """Write ``text`` to file ``name`` whole or not at all (``-``: stdout)."""
    if name == "-":
        sys.stdout.write(text)
        return
    directory = os.path.dirname(os.path.abspath(name))
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix=".group-layers-")
    except OSError as e:
        raise BadInput(f"{name}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, name)
    except BaseException:
        os.unlink(temporary)
        raise


def _layers_json(graph, layers):
    rows = (
        json.dumps({
            "contents": [graph.paths[i] for i in layer.members],
            "size": layer.size(graph),
            "why": layer.why,
        })
        for layer in layers
    )
    return "[\n" + ",\n".join(rows) + "\n]\n"


def _layer_command(argv):
    args = _parser().parse_args(argv)
    graph = from_document(_read_json(args.graph))
    popularity = _read_json(args.pop) if args.pop else {}
    layers = STRATEGIES[args.strategy](graph, popularity, args.budget)
    _write(args.out, _layers_json(graph, layers))


def main(argv=None):
    """Run the command; return its exit status."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        _layer_command(argv)
    except BadInput as e:
        print(f"group-layers: {e}", file=sys.stderr)
        return 2
    return 0
