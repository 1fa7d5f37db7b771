"""How many bytes do users download?  The layer-sharing benchmark.

A workload is a list of image requests pulled in order by one user.  Each
request becomes the ``.attrs.json`` graph Nix exports for that image
(``corpus.py``); a strategy cuts it into layers under a budget; a layer is
downloaded once per distinct set of paths (the same paths make the same
reproducible tar, hence the same digest), so the user's cache is a set of
path sets.

    efficiency = ideal bytes / pulled bytes

where the ideal is every distinct store path downloaded once (what one layer
per path gives).  1.0 is the limit.

Run ``python -m benchmarks.sharing`` from the repository root; it prints a
table, writes ``docs/sharing.md`` and ``docs/sharing.png``
(efficiency against budget), times every strategy per image, and counts the
default strategy's cohorts that are cut the same way in every image.
``--sensitivity`` instead shows how the default strategy moves when its one
constant is scaled.
"""

import argparse
import gc
import json
from functools import partial
import statistics
import sys
import time
from pathlib import Path

from group_layers.layer import Layer
from group_layers.strategies import STRATEGIES, cohort

from .corpus import Corpus
from .progress import Progress

TABLE_BUDGETS = (96, 40, 20)
PLOT_BUDGETS = (10, 20, 30, 40, 60, 80, 96, 128)
OUT = Path(__file__).resolve().parent.parent / "docs"


def one_layer_per_image(graph, popularity, budget):
    return [Layer(tuple(range(len(graph))), "image")]


def one_layer_per_path(graph, popularity, budget):
    """The ideal, ignoring the budget."""
    return [Layer((i,), "path") for i in range(len(graph))]


def build_layered_image(graph, popularity, budget):
    """nixpkgs' ``buildLayeredImage``: ``closure-graph.py``'s popularity contest
    over the image's own graph (a path scores how many paths of the image
    depend on it, directly or not), the best ``budget - 1`` paths one layer
    each, in that order, and the rest one layer."""
    score = graph.user_counts()
    order = sorted(range(len(graph)), key=lambda i: (-score[i], graph.paths[i]))
    if len(order) <= budget:
        return [Layer((i,), "popular") for i in order]
    rest = tuple(sorted(order[budget - 1 :]))
    return [Layer((i,), "popular") for i in order[: budget - 1]] + [Layer(rest, "rest")]


def _without_popularity(strategy):
    return lambda graph, popularity, budget: strategy(graph, {}, budget)


def contenders():
    """Name -> strategy, in the order of the report."""
    return {
        "cohort (default)": STRATEGIES["cohort"],
        "cohort, no popularity": _without_popularity(STRATEGIES["cohort"]),
        "nixery": STRATEGIES["nixery"],
        "buildLayeredImage order": build_layered_image,
        "one layer per image": one_layer_per_image,
        "one layer per path (ideal)": one_layer_per_path,
    }


def sensitivity(graphs, popularity, budgets):
    """Cohort's efficiency with its one constant scaled, as table rows."""
    factors = (0.25, 0.5, 1, 2, 4)
    progress = Progress(len(factors) * len(budgets) * len(graphs), "varying MERGE_SCALE")
    rows = []
    for factor in factors:
        strategy = partial(cohort.group, merge_scale=cohort.MERGE_SCALE * factor)
        cells = [f"{pull(strategy, graphs, popularity, b, progress)[0]:.3f}" for b in budgets]
        rows.append(f"| {factor} x {cohort.MERGE_SCALE:.0e} | " + " | ".join(cells) + " |")
    progress.done()
    head = "| MERGE_SCALE | " + " | ".join(f"budget {b}" for b in budgets) + " |"
    return "\n".join([head, "|---" * (len(budgets) + 1) + "|", *rows])


def stability(graphs, popularity, budgets):
    """For each budget: how many cohort heads of the workload are cut into the
    same set of paths in every image that holds them, out of how many."""
    line = []
    for budget in budgets:
        variants = {}
        for graph in graphs:
            for head, members in cohort.cohorts(graph, popularity, budget).items():
                variants.setdefault(graph.paths[head], set()).add(frozenset(graph.paths[i] for i in members))
        steady = sum(len(v) == 1 for v in variants.values())
        line.append(f"budget {budget}: {steady} of {len(variants)}")
    return "cohorts cut the same way in every image that holds them: " + ", ".join(line)


def pull(strategy, graphs, popularity, budget, progress):
    """Efficiency of ``strategy`` on ``graphs`` pulled in order, and the seconds
    it took per image."""
    cache, pulled, ideal, seconds = set(), 0, {}, []
    for graph in graphs:
        gc.disable()  # as timeit does: a collection pause is not the strategy's time
        start = time.perf_counter()
        layers = strategy(graph, popularity, budget)
        seconds.append(time.perf_counter() - start)
        gc.enable()
        for layer in layers:
            key = frozenset(graph.paths[i] for i in layer.members)
            if key not in cache:
                cache.add(key)
                pulled += layer.size(graph)
        ideal.update(zip(graph.paths, graph.nar_size))
        progress.step()
    return sum(ideal.values()) / pulled, seconds


def run(graphs, budgets, popularity):
    strategies = contenders()
    for strategy in strategies.values():  # imports and caches out of the timings
        strategy(graphs[0], popularity, TABLE_BUDGETS[0])
    results = {}
    progress = Progress(len(strategies) * len(budgets) * len(graphs), "pulling images")
    for name, strategy in strategies.items():
        for budget in budgets:
            results[name, budget] = pull(strategy, graphs, popularity, budget, progress)
    progress.done()
    return results


def table(results, budgets):
    names = list(dict.fromkeys(name for name, _ in results))
    head = "| strategy | " + " | ".join(f"budget {b}" for b in budgets)
    head += " | ms per image (median / max) |"
    lines = [head, "|---" * (len(budgets) + 2) + "|"]
    for name in names:
        cells = [f"{results[name, b][0]:.3f}" for b in budgets]
        times = [t for b in budgets for t in results[name, b][1]]
        timing = f"{statistics.median(times) * 1e3:.2f} / {max(times) * 1e3:.2f}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {timing} |")
    return "\n".join(lines)


def plot(results, budgets, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name in dict.fromkeys(name for name, _ in results):
        ax.plot(budgets, [results[name, b][0] for b in budgets], marker="o", label=name)
    ax.set_xlabel("layer budget per image")
    ax.set_ylabel("efficiency (ideal bytes / pulled bytes)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Layer sharing on the Debian bookworm workload")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=Path, help="workload JSON (default: the public one)")
    parser.add_argument("--no-plot", action="store_true", help="table only")
    parser.add_argument("--sensitivity", action="store_true",
                        help="vary the default strategy's constant instead")
    args = parser.parse_args(argv)
    corpus = Corpus()
    requests = corpus.requests
    if args.requests:
        requests = json.loads(args.requests.read_text())["requests"]
    graphs = [corpus.image_graph(r) for r in requests]
    if args.sensitivity:
        print(sensitivity(graphs, corpus.popularity, TABLE_BUDGETS))
        return
    budgets = TABLE_BUDGETS if args.no_plot else tuple(sorted(set(PLOT_BUDGETS) | set(TABLE_BUDGETS)))
    results = run(graphs, budgets, corpus.popularity)
    report = table(results, TABLE_BUDGETS) + "\n\n" + stability(graphs, corpus.popularity, TABLE_BUDGETS)
    print(report)
    OUT.mkdir(exist_ok=True)
    (OUT / "sharing.md").write_text(report + "\n")
    if not args.no_plot:
        plot(results, budgets, OUT / "sharing.png")
        print(f"plot: {OUT / 'sharing.png'}", file=sys.stderr)


if __name__ == "__main__":
    main()
