"""The layer lock: a new plan that keeps what it can of the last one.

Why
---
A strategy decides from the image at hand (and the popularity data), so a
small change can regroup paths that did not change: adding one package to an
image makes cohorts miss the budget that stood alone before, and a package-set
update rebuilds a cohort's head while its members stay.  Every regrouped
layer is a new blob and is downloaded again.  ``group-layers --previous
FILE`` reads the plan of the last build (its JSON output, or a lock holding
several images' plans) and changes only what the new graph forces.

How paths are matched
---------------------
A store path that is in the old plan and in the new graph is *unchanged*.  A
path of the new graph that is not is *changed* when an old path of the same
package name and output (``cohort.output_of``: ``openssl``'s ``bin`` for
``openssl-3.0.9-bin``) is gone from the graph: a version bump or a rebuild,
hash and version may differ; otherwise it is *new*.  (An old path whose
name is also still present is not matched: both versions are in the image.)

The plan
--------
1. An old layer whose paths are all in the new graph is *kept*: the same
   paths make the same tar, so the same blob, already on every client.
2. An old layer with a changed or vanished path cannot be kept.  Its
   unchanged paths stay together in one layer (*unchanged mates*), and its
   changed paths go to another (*changed*): both are downloaded now anyway
   (the old blob is gone), and when the same package changes again, as
   security libraries and Python packages do update after update, only the
   layer of what changed is new.  The split is made in this plan, so the
   lock needs nothing but the plan itself.
3. New paths get layers by the usual rules: the strategy's layers of the
   whole new graph, each cut down to its new paths.

Old layers keep their order, and what is new follows (unchanged mates, then
changed paths, then new paths): after an edit the whole old image is a prefix
of the new one, so Docker's classic storage reuses it by ChainID too.

The budget, and the compaction rule
-----------------------------------
Each split costs a layer slot, so plans would fragment over many changes.
The budget holds, and the layers downloaded now are merged before a kept one
is touched, since merging them costs nothing more:

* when the new layers do not fit the slots the kept ones leave, the biggest
  stay alone and the others merge into one layer of unchanged mates and one
  of changed and new paths (or one, with a single slot);
* when the kept layers leave no slot for what is new (an image at its
  budget gains a package), the smallest kept layers (by bytes, the last
  on a tie) are dissolved into the unchanged mates, until one slot is free;
* a kept layer is dissolved into the unchanged mates the same way whenever
  it is smaller than ``1 / COMPACT`` of the image's mean layer: a layer that
  small saves next to nothing when it is reused, and in a fresh pull each
  such fragment is a blob that images planned from scratch do not share.

Without ``--previous`` none of this runs and the output is the strategy's.
"""

from .graph import package_name
from .layer import Layer
from .strategies.cohort import output_of

#: Where each kind of new layer goes, after the kept ones.
_ORDER = {"unchanged mates": 0, "changed": 1, "new": 2}


def plan(graph, previous, layers, budget):
    """At most ``budget`` layers for ``graph`` from ``previous``, the old plan
    (its rows in image order: ``contents``, the store paths, and perhaps
    ``why``), and ``layers``, the strategy's layers of the whole graph."""
    index = dict(zip(graph.paths, range(len(graph))))
    kept, mates, changed_of = [], [], {}
    gone_key = {}  # package name and output of a vanished old path -> its old layer
    for j, row in enumerate(previous):
        old = row["contents"]
        present = [index[p] for p in old if p in index]
        if len(present) == len(old):
            kept.append((j, sorted(present), row.get("why") or "kept"))
            continue
        if present:
            mates.append(("unchanged mates", sorted(present), "unchanged mates"))
        for p in old:
            if p not in index:
                gone_key.setdefault(output_of(package_name(p)), j)
    old_paths = {p for row in previous for p in row["contents"]}
    names, new_members = graph.names, set()
    for i, path in enumerate(graph.paths):
        if path not in old_paths:
            j = gone_key.get(output_of(names[i]))
            if j is None:
                new_members.add(i)
            else:
                changed_of.setdefault(j, []).append(i)
    fresh = mates + [("changed", members, "changed") for _, members in sorted(changed_of.items())]
    for layer in layers:
        members = [i for i in layer.members if i in new_members]
        if members:
            fresh.append(("new", members, layer.why))
    return _fit(graph, kept, fresh, budget)


def _fit(graph, kept, fresh, budget):
    """The layers: ``kept`` (``[(old position, members, why)]``) and
    ``fresh`` (``[(kind, members, why)]``) under ``budget``, compacted."""
    def size(members):
        return sum(map(graph.nar_size.__getitem__, members))

    def dissolve(layers):
        return [("unchanged mates", members, "unchanged mates") for _, members, _ in layers]

    room = budget - (1 if fresh else 0)
    if len(kept) > room:
        by_size = sorted(kept, key=lambda k: (size(k[1]), -k[0]))
        fresh += dissolve(by_size[: len(kept) - room])
        kept = sorted(by_size[len(kept) - room :])
    slots = budget - len(kept)
    if len(fresh) > slots:
        ranked = sorted(fresh, key=lambda f: (-size(f[1]), _ORDER[f[0]], f[1]))
        stable = {f[0] == "unchanged mates" for f in ranked[slots - 1 :]}
        alone = slots - 1 if slots == 1 or len(stable) == 1 else slots - 2
        merged = {}
        for kind, members, _ in ranked[alone:]:
            merged.setdefault("unchanged mates" if kind == "unchanged mates" and slots > 1 else "changed",
                              []).extend(members)
        fresh = ranked[:alone] + [(kind, sorted(m), f"rest: {kind}") for kind, m in merged.items()]
    fresh.sort(key=lambda f: _ORDER[f[0]])  # stable: old order, then the strategy's
    return [Layer(tuple(m), why) for _, m, why in kept] + [Layer(tuple(m), why) for _, m, why in fresh]
