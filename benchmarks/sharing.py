"""How many bytes do users download?  The layer-sharing benchmark.

A workload is a list of image requests pulled in order by one user.  Each
request becomes the ``.attrs.json`` graph Nix exports for that image
(``corpus.py``); a strategy cuts it into layers under a budget; the client's
cache (``caches.py``) decides which layers are downloaded: by digest (a layer
is the same wherever it stands) or by Docker's ChainID (only a common prefix
of the ordered layers is reused).

    efficiency = ideal bytes / pulled bytes

where the ideal is every distinct store path downloaded once (what one layer
per path gives under the digest model).  1.0 is the limit.

One run (``python -m benchmarks.sharing`` from the repository root, a few
minutes) measures, on the public workload and on a second one built from the
corpus by ``workload.py`` and never tuned on:

* efficiency under both cache models, at every budget of the plot, with a
  yardstick row that knows the workload (``knowing_the_workload``: how much
  of what is lost is fitting the budget);
* update efficiency (``churn.py``) after named and random package-set updates,
  with fresh and with stale popularity;
* how many of the default strategy's cohorts are cut the same way in every
  image that holds them, and how its results move when its one constant
  (``cohort.MERGE_SHARE``) is scaled;

and prints the tables, writes them to ``docs/sharing.md`` and the plot to
``docs/sharing.png``.  ``--quick`` measures the public workload at the table's
budgets only, without updates (a few seconds).
"""

import argparse
import gc
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path

from group_layers.layer import Layer
from group_layers.strategies import STRATEGIES, cohort

from . import autolayer, churn
from .caches import MODELS, DigestCache
from .corpus import Corpus
from .progress import Progress

TABLE_BUDGETS = (96, 40, 20)
PLOT_BUDGETS = (10, 20, 30, 40, 60, 80, 96, 128)
OUT = Path(__file__).resolve().parent.parent / "docs"
WORKLOADS = ("public", "second")


def one_layer_per_image(graph, popularity, budget):
    return [Layer(tuple(range(len(graph))), "image")]


def one_layer_per_path(graph, popularity, budget):
    """The ideal, ignoring the budget."""
    return [Layer((i,), "path") for i in range(len(graph))]


def user_counts(graph):
    """For each path, how many other paths of the graph have it in their
    closure: the popularity it would have if the graph were the package set."""
    users = [0] * len(graph.paths)
    for i in graph.referrers_first:
        for r in graph.refs[i]:
            users[r] |= users[i] | (1 << i)
    return [u.bit_count() for u in users]


def build_layered_image(graph, popularity, budget):
    """nixpkgs' ``buildLayeredImage``: ``closure-graph.py``'s popularity contest
    over the image's own graph (a path scores how many paths of the image
    depend on it, directly or not), the best ``budget - 1`` paths one layer
    each, in that order, and the rest one layer."""
    score = user_counts(graph)
    order = sorted(range(len(graph)), key=lambda i: (-score[i], graph.paths[i]))
    if len(order) <= budget:
        return [Layer((i,), "popular") for i in order]
    rest = tuple(sorted(order[budget - 1 :]))
    return [Layer((i,), "popular") for i in order[: budget - 1]] + [Layer(rest, "rest")]


def knowing_the_workload(graphs):
    """Not a strategy but a yardstick: the paths held by exactly the same
    images of ``graphs`` make one group (they always travel together there,
    and nothing else does: the finest cut that sharing by digest can use),
    and the groups fit the budget as the default strategy fits its cohorts
    (``cohort.fit``).  What it still loses is what fitting the budget costs,
    not what popularity data fails to say about the workload."""
    images = {}
    for k, graph in enumerate(graphs):
        for path in graph.paths:
            images.setdefault(path, []).append(k)

    def group(graph, popularity, budget):
        groups = {}
        for i, path in enumerate(graph.paths):
            groups.setdefault(tuple(images[path]), []).append(i)
        by_head = {members[0]: members for members in groups.values()}
        return cohort.fit(graph, by_head, budget, lambda head, members: "same images")
    return group


def _without_popularity(strategy):
    return lambda graph, popularity, budget: strategy(graph, {}, budget)


def contenders():
    """Name -> strategy, in the order of the report."""
    return {
        "cohort (default)": STRATEGIES["cohort"],
        "cohort, no popularity": _without_popularity(STRATEGIES["cohort"]),
        "nixery": STRATEGIES["nixery"],
        "auto-layer (nixpkgs)": autolayer.group,
        "buildLayeredImage order": build_layered_image,
        "one layer per image": one_layer_per_image,
        "one layer per path (ideal)": one_layer_per_path,
    }


#: The yardstick's row (``knowing_the_workload``), last in the efficiency tables.
KNOWING = "same images, one group (knows the workload)"


#: The update benchmark's rows: a contender and the popularity it reads after
#: the update.  The ideal is left out (it is 1.0 by definition).
UPDATE_ROWS = (
    ("cohort (default)", "fresh"),
    ("cohort, stale popularity", "stale"),
    ("cohort, no popularity", "fresh"),
    ("nixery", "fresh"),
    ("auto-layer (nixpkgs)", "fresh"),
    ("buildLayeredImage order", "fresh"),
    ("one layer per image", "fresh"),
)


def layerings(strategy, graphs, popularity, budget, progress):
    """Each image as ``[(frozenset of paths, bytes)]`` in layer order, and the
    seconds the strategy took per image."""
    images, seconds = [], []
    for graph in graphs:
        gc.disable()  # as timeit does: a collection pause is not the strategy's time
        start = time.perf_counter()
        layers = strategy(graph, popularity, budget)
        seconds.append(time.perf_counter() - start)
        gc.enable()
        images.append([(frozenset(graph.paths[i] for i in layer.members), layer.size(graph))
                       for layer in layers])
        progress.step()
    return images, seconds


def ideal_bytes(graphs):
    sizes = {}
    for graph in graphs:
        sizes.update(zip(graph.paths, graph.nar_size))
    return sum(sizes.values())


def efficiency(images, graphs, model="digest"):
    cache = MODELS[model]()
    return ideal_bytes(graphs) / sum(cache.pull(layers) for layers in images)


def pull(strategy, graphs, popularity, budget, progress, model="digest"):
    """Efficiency of ``strategy`` on ``graphs`` pulled in order, and the seconds
    it took per image."""
    images, seconds = layerings(strategy, graphs, popularity, budget, progress)
    return efficiency(images, graphs, model), seconds


def run(graphs, budgets, popularity, progress):
    """``{(name, budget): ({model: efficiency}, seconds per image)}``."""
    strategies = contenders()
    strategies[KNOWING] = knowing_the_workload(graphs)
    for strategy in strategies.values():  # imports and caches out of the timings
        strategy(graphs[0], popularity, TABLE_BUDGETS[0])
    results = {}
    for name, strategy in strategies.items():
        for budget in budgets:
            images, seconds = layerings(strategy, graphs, popularity, budget, progress)
            results[name, budget] = ({m: efficiency(images, graphs, m) for m in MODELS}, seconds)
    return results


def updates(corpus, requests, graphs, scenarios, progress):
    """``{(row, group, budget): (pooled, lowest, highest)}`` update efficiency
    under the digest model; ``scenarios`` as ``churn.scenarios`` gives them."""
    strategies = contenders()
    after = {}
    for group, cases in scenarios.items():
        for case, bumped in cases:
            new, stale = churn.updated(corpus, bumped)
            new_graphs = [new.image_graph(r) for r in requests]
            after[group, case] = (new_graphs, {"fresh": new.popularity, "stale": stale},
                                  churn.new_bytes(graphs, new_graphs))
    results = {}
    for row, kind in UPDATE_ROWS:
        strategy = strategies[row if row in strategies else "cohort (default)"]
        for budget in TABLE_BUDGETS:
            before = DigestCache()
            for layers in layerings(strategy, graphs, corpus.popularity, budget, progress)[0]:
                before.pull(layers)
            for group, cases in scenarios.items():
                pairs = []
                for case, _ in cases:
                    new_graphs, pops, fresh_bytes = after[group, case]
                    cache = DigestCache()
                    cache.seen = set(before.seen)
                    images = layerings(strategy, new_graphs, pops[kind], budget, progress)[0]
                    pairs.append((fresh_bytes, sum(cache.pull(layers) for layers in images)))
                results[row, group, budget] = churn.pooled(pairs)
    return results


def sensitivity(graphs, popularity, progress):
    """The default strategy's efficiency with its one constant scaled, as table rows."""
    factors = (0.25, 0.5, 1, 2, 4)
    rows = []
    for factor in factors:
        strategy = partial(cohort.group, merge_share=cohort.MERGE_SHARE * factor)
        cells = []
        for budget in TABLE_BUDGETS:
            cells.append(f"{efficiency(layerings(strategy, graphs, popularity, budget, progress)[0], graphs):.3f}")
        rows.append(f"| {factor} x {cohort.MERGE_SHARE} | " + " | ".join(cells) + " |")
    return _rows("| MERGE_SHARE | " + " | ".join(f"budget {b}" for b in TABLE_BUDGETS) + " |", rows)


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


def _rows(head, lines):
    return "\n".join([head, "|---" * head.count(" | ") + "|---|", *lines])


def table(results, budgets):
    names = list(dict.fromkeys(name for name, _ in results))
    models = list(MODELS)
    head = "| strategy | " + " | ".join(f"{m} {b}" for m in models for b in budgets)
    head += " | ms per image (median / max) |"
    lines = []
    for name in names:
        cells = [f"{results[name, b][0][m]:.3f}" for m in models for b in budgets]
        times = [t for b in budgets for t in results[name, b][1]]
        timing = f"{statistics.median(times) * 1e3:.2f} / {max(times) * 1e3:.2f}"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {timing} |")
    return _rows(head, lines)


def update_table(results, group):
    head = "| strategy | " + " | ".join(f"budget {b}" for b in TABLE_BUDGETS) + " |"
    lines = []
    for row, _ in UPDATE_ROWS:
        cells = []
        for b in TABLE_BUDGETS:
            whole, low, high = results[row, group, b]
            cells.append(f"{whole:.3f} ({low:.2f}-{high:.2f})")
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return _rows(head, lines)


def plot(results, budgets, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex=True, sharey=True)
    for row, workload in enumerate(WORKLOADS):
        for col, model in enumerate(MODELS):
            ax = axes[row][col]
            found = results[workload]
            for name in dict.fromkeys(name for name, _ in found):
                ax.plot(budgets, [found[name, b][0][model] for b in budgets], marker="o",
                        markersize=3, label=name)
            ax.set_title(f"{workload} workload, {model} cache", fontsize=10)
            ax.set_ylim(0, 1.02)
            ax.grid(alpha=0.3)
            if row == 1:
                ax.set_xlabel("layer budget per image")
            if col == 0:
                ax.set_ylabel("ideal bytes / pulled bytes")
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def workload(corpus, name):
    if name == "public":
        return corpus.requests
    return json.loads((corpus.directory / f"requests-{name}.json").read_text())["requests"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="public workload, table budgets, no updates, nothing written")
    args = parser.parse_args(argv)
    corpus = Corpus()
    names = WORKLOADS[:1] if args.quick else WORKLOADS
    budgets = TABLE_BUDGETS if args.quick else tuple(sorted(set(PLOT_BUDGETS) | set(TABLE_BUDGETS)))
    requests = {w: workload(corpus, w) for w in names}
    graphs = {w: [corpus.image_graph(r) for r in requests[w]] for w in names}
    scenarios = {} if args.quick else churn.scenarios(corpus)
    cases = sum(len(c) for c in scenarios.values())
    steps = sum(len(g) for g in graphs.values()) * (
        (len(contenders()) + 1) * len(budgets) + 5 * len(TABLE_BUDGETS) * (not args.quick) + len(UPDATE_ROWS) * len(TABLE_BUDGETS) * (1 + cases) * bool(cases))
    progress = Progress(steps, "pulling images")
    results, changes, spread = {}, {}, {}
    for w in names:
        results[w] = run(graphs[w], budgets, corpus.popularity, progress)
        if scenarios:
            spread[w] = sensitivity(graphs[w], corpus.popularity, progress)
            changes[w] = updates(corpus, requests[w], graphs[w], scenarios, progress)
    progress.done()
    parts = []
    for w in names:
        parts.append(f"## {w} workload ({len(graphs[w])} images)\n\nefficiency by cache model and budget:\n\n"
                     + table(results[w], TABLE_BUDGETS))
        if w == "public":
            parts.append(stability(graphs[w], corpus.popularity, TABLE_BUDGETS))
        if w in spread:
            parts.append("the default strategy with its constant scaled (digest cache):\n\n" + spread[w])
        for group in scenarios:
            parts.append(f"update efficiency after {group} updates ({len(scenarios[group])}: pooled "
                         f"(lowest-highest)), digest cache:\n\n" + update_table(changes[w], group))
    report = "\n\n".join(parts)
    print(report)
    if not args.quick:
        OUT.mkdir(exist_ok=True)
        (OUT / "sharing.md").write_text(report + "\n")
        plot(results, budgets, OUT / "sharing.png")
        print(f"plot: {OUT / 'sharing.png'}", file=sys.stderr)


if __name__ == "__main__":
    main()
