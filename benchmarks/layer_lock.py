"""The layer lock (``group-layers --previous``) against a plan from scratch.

Every image of a workload is planned by the default strategy; then it
changes, and is planned again either from scratch or from its last plan (the
lock).  What a user who had the old image pulls, under the digest cache unless
said otherwise (``caches.py``), in each scenario:

* **add one package** to each image (the first root of a later request that
  it lacks), the image's own old layers cached: efficiency = bytes of the
  paths the package adds / bytes pulled; under the ChainID cache too;
* **remove one package** (each image's last root, images of two roots or
  more): the share of the smaller image pulled again (0 is the ideal);
* a **1 % and a 0.1 % random update** of the package set (``churn.py``,
  4 seeds pooled), the whole workload pulled before: update efficiency as in
  ``sharing.py``; under the ChainID cache too;
* the **same named package updated 5 times** in a row (libssl3, python3.11,
  zlib1g), everything pulled before cached: the first update, and the 2nd to
  5th pooled;
* **fragmentation**: after 1, 5 and 20 successive locked 1 % updates, the
  whole workload pulled into an empty cache (``sharing.efficiency``), as a
  ratio to plans made from scratch for the same images; and the mean and the
  lowest of that ratio over changes 11 to 20 (one change's figure depends on
  how many images it happened to make afresh: 0.90 to 1.00 from one change
  to the next).

Run ``python -m benchmarks.layer_lock`` from the repository root (several
minutes; it writes ``docs/layer-lock.md``'s tables to stdout and the plot to
``docs/layer-lock.png``); ``--quick`` runs a small part (the tests do).
"""

import argparse
import sys
from pathlib import Path

from group_layers import lock
from group_layers.strategies import STRATEGIES

from . import churn
from .caches import ChainCache, DigestCache
from .corpus import Corpus
from .progress import Progress
from .sharing import TABLE_BUDGETS, efficiency, workload

OUT = Path(__file__).resolve().parent.parent / "docs"
NAMED = ("libssl3", "python3.11", "zlib1g")
REPEATS = 5
RANDOM_SEEDS = range(4)
FRAGMENTATION_STEPS = (1, 5, 20)
#: The fragmentation figure's mean and lowest are taken over this many last changes.
STEADY = 10
PLANS = ("scratch", "lock")


def plan(graph, popularity, budget, previous=None):
    """The image as ``[(frozenset of paths, bytes, changed paths, why)]`` in
    layer order (what a lock holds of it): the
    default strategy's plan, or with ``previous`` (an earlier such list) the
    lock's."""
    layers = STRATEGIES["cohort"](graph, popularity, budget)
    if previous is not None:
        layers = lock.plan(graph, [{"contents": sorted(paths), "changed": sorted(changed), "why": why}
                                   for paths, _, changed, why in previous], layers, budget)
    return [(frozenset(graph.paths[i] for i in layer.members), layer.size(graph),
             [graph.paths[i] for i in layer.changed], layer.why) for layer in layers]


def replan(kind, graph, popularity, budget, previous):
    return plan(graph, popularity, budget, previous if kind == "lock" else None)


class Images:
    """Image graphs of one corpus (or updated corpus), built once each."""

    def __init__(self, corpus):
        self.corpus, self.graphs = corpus, {}

    def __call__(self, request):
        key = tuple(request)
        if key not in self.graphs:
            self.graphs[key] = self.corpus.image_graph(list(request))
        return self.graphs[key]


def _pulled(cache_kind, before, after):
    cache = cache_kind()
    cache.pull(before)
    return cache.pull(after)


def _bytes(graph):
    return sum(graph.nar_size)


def edits(corpus, requests, popularity, budget, progress):
    """``{(scenario, plan): figure}`` for adding and removing one package."""
    images = Images(corpus)
    sums = {}
    for k, request in enumerate(requests):
        before = images(request)
        have = set(corpus.closure(request))
        extra = next((r[0] for r in requests[k + 1 :] + requests[:k] if r[0] not in have), None)
        old = plan(before, popularity, budget)
        cases = []
        if extra is not None:
            cases.append(("add", images(request + [extra])))
        if len(request) > 1:
            cases.append(("remove", images(request[:-1])))
        for case, after in cases:
            fresh = churn.new_bytes([before], [after])
            for kind in PLANS:
                new = replan(kind, after, popularity, budget, old)
                for model, cache in (("digest", DigestCache), ("ChainID", ChainCache)):
                    total = sums.setdefault((f"{case} one package, {model}", kind), [0, 0])
                    total[0] += fresh if case == "add" else _bytes(after)
                    total[1] += _pulled(cache, old, new)
        progress.step()
    return {key: (a / b if b else 1.0) if key[0].startswith("add") else b / a
            for key, (a, b) in sums.items()}


def updates(corpus, requests, popularity, budget, rates, progress):
    """``{(scenario, plan): pooled efficiency}`` after random updates."""
    images = Images(corpus)
    graphs = [images(r) for r in requests]
    old = [plan(g, popularity, budget) for g in graphs]
    figures = {}
    for rate in rates:
        pairs = {}
        for seed in RANDOM_SEEDS:
            new_corpus, _ = churn.updated(corpus, churn.random_bump(corpus, rate, seed))
            new_graphs = [new_corpus.image_graph(r) for r in requests]
            fresh = churn.new_bytes(graphs, new_graphs)
            pop = new_corpus.popularity if popularity else {}
            for kind in PLANS:
                new = [replan(kind, g, pop, budget, o) for g, o in zip(new_graphs, old)]
                for model, cache_kind in (("digest", DigestCache), ("ChainID", ChainCache)):
                    cache = cache_kind()
                    for image in old:
                        cache.pull(image)
                    pairs.setdefault((f"{rate:.1%} update, {model}", kind), []).append(
                        (fresh, sum(cache.pull(image) for image in new)))
            progress.step()
        figures.update({key: churn.pooled(p)[0] for key, p in pairs.items()})
    return figures


def repeated(corpus, requests, popularity, budget, progress):
    """``{(scenario, plan): efficiency}``: each named package updated
    ``REPEATS`` times, the first update and the later ones pooled."""
    figures = {}
    for name in NAMED:
        users = [r for r in requests if name in corpus.closure(r)]
        first = [corpus.image_graph(r) for r in users]
        start = [plan(g, popularity, budget) for g in first]
        for kind in PLANS:
            current, last, seen, graphs = corpus, start, DigestCache(), first
            for image in start:
                seen.pull(image)
            pairs = []
            for step in range(1, REPEATS + 1):
                current, _ = churn.updated(current, {name}, tag=f"u{step}")
                new_graphs = [current.image_graph(r) for r in users]
                pop = current.popularity if popularity else {}
                fresh = churn.new_bytes(graphs, new_graphs)
                last = [replan(kind, g, pop, budget, o) for g, o in zip(new_graphs, last)]
                pairs.append((fresh, sum(seen.pull(image) for image in last)))
                graphs = graphs + new_graphs
                progress.step()
            figures[f"{name}, 1st update", kind] = churn.pooled(pairs[:1])[0]
            figures[f"{name}, 2nd-{REPEATS}th updates", kind] = churn.pooled(pairs[1:])[0]
    return figures


def fragmentation(corpus, requests, popularity, budget, progress):
    """``{(scenario, "lock"): ratio}``: fresh-pull digest efficiency of the
    locked plans after successive 1 % updates, over that of plans from
    scratch, after ``FRAGMENTATION_STEPS`` changes, and its mean and lowest
    over the last ``STEADY`` changes (after one change the figure wanders
    with which images were just made afresh)."""
    figures, current, steady = {}, corpus, []
    last = [plan(current.image_graph(r), popularity, budget) for r in requests]
    final = max(FRAGMENTATION_STEPS)
    for step in range(1, final + 1):
        current, _ = churn.updated(current, churn.random_bump(corpus, 0.01, 100 + step), tag=f"f{step}")
        pop = current.popularity if popularity else {}
        graphs = [current.image_graph(r) for r in requests]
        last = [plan(g, pop, budget, o) for g, o in zip(graphs, last)]
        if step in FRAGMENTATION_STEPS or step > final - STEADY:
            scratch = [plan(g, pop, budget) for g in graphs]
            ratio = efficiency(last, graphs) / efficiency(scratch, graphs)
            if step in FRAGMENTATION_STEPS:
                figures[f"fresh pull after {step} locked changes (x scratch)", "lock"] = ratio
            if step > final - STEADY:
                steady.append(ratio)
        progress.step()
    span = f"{final - STEADY + 1}-{final}"
    figures[f"fresh pull, mean over changes {span} (x scratch)", "lock"] = sum(steady) / len(steady)
    figures[f"fresh pull, lowest over changes {span} (x scratch)", "lock"] = min(steady)
    return figures


def measure(corpus, requests, popularity, budget, quick, progress):
    figures = edits(corpus, requests, popularity, budget, progress)
    figures.update(updates(corpus, requests, popularity, budget, (0.01,) if quick else (0.01, 0.001), progress))
    if not quick:
        figures.update(repeated(corpus, requests, popularity, budget, progress))
        figures.update(fragmentation(corpus, requests, popularity, budget, progress))
    return figures


def table(results, budgets):
    """One markdown table: a row per scenario and plan, a column per budget."""
    keys = list(results)
    head = "| scenario | plan | " + " | ".join(f"budget {b}" for b in budgets) + " |"
    lines = [head, "|---|---|" + "---|" * len(budgets)]
    for scenario, kind in keys:
        cells = [f"{results[scenario, kind][b]:.3f}" for b in budgets]
        lines.append(f"| {scenario} | {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results, budgets, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [key for key in results if key[1] == "with popularity"]
    fig, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 5), squeeze=False)
    for ax, key in zip(axes[0], panels):
        found = results[key]
        scenarios = [s for s, kind in dict.fromkeys(found) if kind == "lock" and (s, "scratch") in found]
        width = 0.8 / len(budgets)
        for n, budget in enumerate(budgets):
            for k, kind in enumerate(PLANS):
                ax.barh([i + n * width + (0.4 * width if k else 0) for i in range(len(scenarios))],
                        [found[s, kind][budget] for s in scenarios], height=0.4 * width,
                        color=f"C{n}", alpha=1.0 if kind == "lock" else 0.35,
                        label=f"{kind}, budget {budget}")
        ax.set_yticks([i + 0.4 - width / 2 for i in range(len(scenarios))])
        ax.set_yticklabels(scenarios, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1.02)
        ax.set_title(f"{key[0]} workload, with popularity (faded: from scratch)", fontsize=10)
        ax.grid(alpha=0.3, axis="x")
    axes[0][0].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="public workload, 30 images, budget 40, with popularity: edits and "
                             "one 1%% update; nothing written")
    args = parser.parse_args(argv)
    corpus = Corpus()
    names = ("public",) if args.quick else ("public", "second")
    budgets = (40,) if args.quick else TABLE_BUDGETS
    data = ((True,) if args.quick else (True, False))
    requests = {w: workload(corpus, w)[: 30 if args.quick else None] for w in names}
    per = {w: len(requests[w]) + len(RANDOM_SEEDS) * (1 if args.quick else 2)
           + (0 if args.quick else len(NAMED) * len(PLANS) * REPEATS + max(FRAGMENTATION_STEPS))
           for w in names}
    progress = Progress(sum(per.values()) * len(budgets) * len(data), "planning images")
    results = {}
    for w in names:
        for with_pop in data:
            found = results.setdefault((w, "with popularity" if with_pop else "without popularity"), {})
            for budget in budgets:
                figures = measure(corpus, requests[w], corpus.popularity if with_pop else {}, budget,
                                  args.quick, progress)
                for key, value in figures.items():
                    found.setdefault(key, {})[budget] = value
    progress.done()
    report = "\n\n".join(f"### {w} workload, {data_kind}\n\n" + table(found, budgets)
                         for (w, data_kind), found in results.items())
    print(report)
    if not args.quick:
        plot(results, budgets, OUT / "layer-lock.png")
        print(f"plot: {OUT / 'layer-lock.png'}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
