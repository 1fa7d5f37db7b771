"""The ``group-layers`` command, a drop-in for Nixery's ``group-layers`` program.

``group-layers --graph FILE --pop FILE --budget N --out FILE`` reads an image's
runtime graph (and popularity data), lets a strategy group its store paths
into at most N layers and writes them (``--format``: JSON for Nix, a table
for people, or the dominator tree for Graphviz).  ``group-layers popcount
GRAPH...`` computes popularity data from many graphs.  ``-`` is stdin /
stdout.  Like Go's flag package, options may also be spelled with one dash
(``-budget 93``).

Exit status: 0 done; 2 bad input or arguments (one line on stderr, no output
file); 1 an internal error (a bug: with a traceback).
"""

import argparse
import gc
import json
import os
import sys

from . import __version__, validate
from .graph import package_name
from .strategies import DEFAULT, STRATEGIES
from .validate import BadInput


class _Parser(argparse.ArgumentParser):
    """argparse's parser, but a usage error is :class:`BadInput` (one line,
    exit status 2), and adding arguments asks nothing of the terminal:
    argparse makes a help formatter for each argument added, to check its
    metavar, and each one imports ``shutil`` and asks the terminal's width
    (3 ms of a small image's run).  Help, when asked for, still fits the
    terminal (:meth:`done`)."""

    def __init__(self, **kwargs):
        super().__init__(formatter_class=lambda prog: argparse.HelpFormatter(prog, width=80), **kwargs)

    def done(self):
        """The parser, all arguments added: help as wide as the terminal."""
        self.formatter_class = argparse.HelpFormatter
        return self

    def error(self, message):
        raise BadInput("arguments", "", message)


def _layers_parser():
    parser = _Parser(prog="group-layers", allow_abbrev=False,
                     description="Group an image's store paths into layers. "
                                 "Also: group-layers popcount GRAPH... (see popcount --help).")
    option = parser.add_argument
    option("--graph", "-graph", default=".attrs.json", metavar="FILE",
           help="the image's graph: the .attrs.json of exportReferencesGraph.graph, or "
                "nix path-info --json --recursive (default: %(default)s)")
    option("--pop", "-pop", metavar="FILE",
           help="popularity data, in Nixery's format (default: none)")
    option("--budget", "-budget", type=int, default=94, metavar="N",
           help="the most layers to make (default: %(default)s)")
    option("--out", "-out", default="layers.json", metavar="FILE",
           help="where to write the layers (default: %(default)s)")
    option("--strategy", "-strategy", choices=sorted(STRATEGIES), default=DEFAULT,
           help="how to group (default: %(default)s)")
    option("--format", "-format", choices=("json", "lock", "table", "dot"), default="json",
           help="json: for Nix; lock: a layer lock of this plan, for --previous next time; "
                "table: for people; dot: the dominator tree with each path's layer, for "
                "Graphviz (default: %(default)s)")
    option("--previous", "-previous", metavar="FILE",
           help="the last plan: an earlier JSON output, or a layer lock; old layers that "
                "still fit are kept as they were (see docs/layer-lock.md)")
    option("--image", "-image", metavar="NAME",
           help="which image's plan of a lock holding several to read, and the name under "
                "which --format lock writes this one (default: the lock's only plan; image)")
    option("--version", action="version", version=f"group-layers {__version__}")
    return parser.done()


def _popcount_parser():
    parser = _Parser(prog="group-layers popcount", allow_abbrev=False,
                     usage="group-layers popcount GRAPH... [--out FILE]\n"
                           "       group-layers popcount --cache URL --paths FILE [--out FILE] "
                           "[--jobs N] [--state DIR] [--timeout SECONDS]",
                     description="For each package name, count how many roots have it in their "
                                 "closure (a root given twice counts once); write popularity data "
                                 "in Nixery's format. The roots are those of the GRAPH files, or "
                                 "with --cache the store paths in --paths, whose closures are read "
                                 "from the .narinfo files of a Nix binary cache.")
    option = parser.add_argument
    option("graphs", nargs="*", metavar="GRAPH", help="graph files, in any shape --graph takes")
    option("--out", "-out", default="-", metavar="FILE", help="where to write it (default: stdout)")
    cache = parser.add_argument_group("from a binary cache (needs the `cache` extra for http)")
    option = cache.add_argument
    option("--cache", "-cache", metavar="URL",
           help="a Nix binary cache: http://, https:// or file://")
    option("--paths", "-paths", metavar="FILE",
           help="the root store paths, one a line: plain, .xz or .gz (a channel's "
                "store-paths.xz); - for stdin")
    option("--jobs", "-jobs", type=int, default=16, metavar="N",
           help="most requests in flight (default: %(default)s)")
    option("--state", "-state", metavar="DIR",
           help="keep the narinfos fetched in DIR, so that a rerun fetches only new paths")
    option("--timeout", "-timeout", type=float, default=30.0, metavar="SECONDS",
           help="give up on one request after this long and retry it (default: %(default)s)")
    return parser.done()


def _popcount_args(argv):
    """popcount's arguments, checked: GRAPH files or --cache, not both."""
    args = _popcount_parser().parse_args(argv)
    if args.cache is None:
        extra = [f"--{o}" for o in ("paths", "state") if getattr(args, o) is not None]
        if extra:
            raise BadInput("arguments", "", f"{', '.join(extra)} only go with --cache")
        if not args.graphs:
            raise BadInput("arguments", "", "give GRAPH files, or --cache URL --paths FILE")
    elif args.graphs:
        raise BadInput("arguments", "", "give GRAPH files or --cache, not both")
    elif args.paths is None:
        raise BadInput("arguments", "", "--cache needs --paths FILE")
    elif args.jobs < 1:
        raise BadInput("--jobs", "", f"{args.jobs} is not a positive number of requests")
    elif not args.timeout > 0:
        raise BadInput("--timeout", "", f"{args.timeout} is not a positive number of seconds")
    return args


def _write(name, text):
    """Write ``text`` to file ``name`` whole or not at all (``-``: stdout)."""
    if name == "-":
        sys.stdout.write(text)
        return
    temporary = os.path.join(os.path.dirname(os.path.abspath(name)), f".group-layers-{os.urandom(8).hex()}")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # less the umask
    except OSError as e:
        raise BadInput(name, "", f"cannot write here: {e.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temporary, name)
    except OSError as e:
        os.unlink(temporary)
        raise BadInput(name, "", f"cannot write: {e.strerror}") from None
    except BaseException:
        os.unlink(temporary)
        raise


def _json(rows):
    return "[\n" + ",\n".join(json.dumps(row) for row in rows) + "\n]\n"


def _lock(image, rows, other_plans):
    """A layer lock (``schemas/lock.json``) holding ``rows`` as the plan of
    ``image`` and the other images' plans of the previous lock, by name."""
    plans = {**other_plans, image: rows}
    return ('{"version": %d, "images": {' % validate.LOCK_VERSION
            + ",\n".join(f"{json.dumps(name)}: {_json(plans[name]).rstrip()}" for name in sorted(plans))
            + "}}\n")


def _human(size):
    if size < 1024:
        return f"{size} B"
    units = ["KiB", "MiB", "GiB", "TiB"]
    size /= 1024
    while size >= 1024 and len(units) > 1:
        size /= 1024
        units.pop(0)
    return f"{size:.1f} {units[0]}"


def _table(graph, layers):
    lines = [f"{'layer':>5}  {'size':>10}  {'paths':>6}  {'main package':<48}  why"]
    for number, layer in enumerate(layers, 1):
        lines.append(f"{number:>5}  {_human(layer.size(graph)):>10}  {len(layer.members):>6}  "
                     f"{package_name(graph.paths[layer.head(graph)]):<48}  {layer.why}")
    total = sum(graph.nar_size)
    lines.append(f"{'total':>5}  {_human(total):>10}  {len(graph):>6}")
    return "\n".join(lines) + "\n"


def _dot(graph, layers):
    from .dominators import dominator_children

    layer_of = [0] * len(graph)
    for number, layer in enumerate(layers, 1):
        for i in layer.members:
            layer_of[i] = number
    lines = [
        "digraph dominators {",
        "  rankdir=LR;",
        "  node [shape=box, style=filled, colorscheme=set312];",
        '  image [label="image", shape=ellipse, fillcolor=white];',
    ]
    for i, path in enumerate(graph.paths):
        label = f"{package_name(path)}\\nlayer {layer_of[i]}".replace('"', '\\"')
        lines.append(f'  p{i} [label="{label}", fillcolor={(layer_of[i] - 1) % 12 + 1}];')
    for parent, children in enumerate(dominator_children(graph)):
        source = "image" if parent == len(graph) else f"p{parent}"
        lines.extend(f"  {source} -> p{child};" for child in children)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _layers(argv):
    args = _layers_parser().parse_args(argv)
    graph, popularity, budget, previous, other_plans = validate.inputs(args.graph, args.pop, args.budget,
                                                                       args.previous, args.image)
    layers = STRATEGIES[args.strategy](graph, popularity, budget)
    if previous is not None:
        from . import lock

        layers = lock.plan(graph, previous, layers, budget)
    rows = [
        {"contents": list(map(graph.paths.__getitem__, layer.members)),
         "name": package_name(graph.paths[layer.head(graph)]),
         "size": layer.size(graph), "why": layer.why,
         **({"changed": list(map(graph.paths.__getitem__, layer.changed))} if layer.changed else {})}
        for layer in layers
    ]
    validate.output(graph, layers, budget, rows)
    render = {"json": lambda: _json(rows), "lock": lambda: _lock(args.image or "image", rows, other_plans), "table": lambda: _table(graph, layers),
              "dot": lambda: _dot(graph, layers)}[args.format]
    _write(args.out, render())


def _popcount(argv):
    args = _popcount_args(argv)
    if args.cache is not None:
        from . import popcount_cache

        _write(args.out, popcount_cache.popularity(args).render())
        return
    from .popcount import Tally

    tally = Tally()
    for file in args.graphs:
        graph = validate.graph(validate.read_json(file), file)
        names = graph.names
        for root in graph.roots:
            tally.add(graph.paths[root], names, graph.refs, root)
    _write(args.out, tally.render())


def main(argv=None):
    """Run the command; return its exit status."""
    argv = sys.argv[1:] if argv is None else argv
    collecting = gc.isenabled()
    try:
        if argv[:1] == ["popcount"]:
            _popcount(argv[1:])
        else:
            # The cyclic garbage collector would scan the parsed document and
            # the graph (millions of lists and strings, no reference cycles)
            # again and again as they grow: 10 to 15 % of a 200,000-path run.
            gc.disable()
            _layers(argv)
    except BadInput as e:
        print(f"group-layers: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception:
        import traceback

        print("group-layers: internal error, please report it:", file=sys.stderr)
        traceback.print_exc()
        return 1
    finally:
        if collecting:
            gc.enable()
    return 0


def run():
    """The command's entry point (``group-layers``, ``python -m group_layers``):
    :func:`main`, then exit at once, as mypy's command does.  The
    interpreter's own shutdown would tear down every module and object one by
    one, work the system does anyway when the process ends (about 3 ms of a
    small image's run).  Under a profiler or a tracer (coverage), which
    report at shutdown, the exit is the usual one."""
    status = main()
    if _observed():
        return status
    for stream in filter(None, (sys.stdout, sys.stderr)):  # None: started without it
        try:
            stream.flush()
        except BrokenPipeError:  # a reader that went away: as main's own writes
            status = status or 1
    os._exit(status)


def _observed():
    """Whether a profiler or a tracer watches this process: the old hooks, or
    (Python 3.12 on, where cProfile and coverage use them) a tool registered
    with ``sys.monitoring``."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        return True
    monitoring = getattr(sys, "monitoring", None)
    return monitoring is not None and any(monitoring.get_tool(tool) for tool in range(6))
