"""The default strategy, ``cohort``: layers that come back in every image.

Why layering at all
-------------------
A user pulls many images built from one package set.  A layer they already
have is not downloaded again, and two images share a layer only when it holds
exactly the same store paths (the same paths make the same reproducible tar,
hence the same digest).  With one layer per path everything that can be shared
is shared, but registries and runtimes cap the number of layers, so paths must
be merged, and every merged layer is a bet: it is reused only if some other
image needs exactly that set again.

What Nixery and the simple heuristics get wrong
-----------------------------------------------
Nixery cuts the image's dominator tree into subtrees, and buildLayeredImage
keeps the ``budget - 1`` best paths alone and merges the rest.  Both decide
from the image at hand: which subtree a library falls in, or which paths make
it into the top ``budget - 1``, changes with every other package in the image,
so their merged layers are different in nearly every image and are downloaded
again and again.

The idea: cohorts
-----------------
A merged layer comes back only if its paths *travel together*: whenever one of
them is in an image, the others are too, and nothing else joins them.  Nix
tells half of that for free: when ``p`` is in an image, its whole closure is.
Popularity tells the other half.  ``pop(q)`` counts the packages of the whole
package set whose closure holds ``q``, ``q`` itself included (Nixery's
convention, and ``popcount``'s); if ``q`` is referenced by ``p`` and ``pop(p)``
is close to ``pop(q)``, then nearly every package that needs ``q`` needs it
through ``p``: ``q`` is almost never present without ``p``.

So each path ``q`` with referrers looks at its most popular referrer ``p`` in
the image (ties by path) and joins ``p``'s cohort when

1. ``p`` and its users are at least half of ``q``'s users: ``2 pop(p) >=
   pop(q)``.  Another referrer ``r`` of ``q`` (not a user of ``p``) can then
   be as popular as ``p`` only if many packages need both: without shared
   users, those of ``r`` and of ``p`` are disjoint shares of the ``pop(q) - 1``
   users of ``q``, so ``pop(r) < pop(p)``.  So, but for shared users, ``q``
   picks ``p`` in every image that holds both, and ``p``'s cohort does not
   change with the rest of the image (the tests check that shared users are
   the only way it can).  Without this rule a small library would join a
   different big package in each image and make *its* layer differ.  (With
   counts that leave the path itself out, as in the benchmark's corpus, the
   rule is only a little stricter.)
2. the bytes the merge can cost are small: ``q`` is downloaded again in the
   images that have ``q`` without ``p``, a share of about
   ``(pop(q) - pop(p)) / (pop(q) + 1)`` of its uses, so the merge is taken
   when ``narSize(q) * share <= MERGE_SCALE / budget**2``.  A layer slot is
   worth more the fewer there are: the bound grows as the budget shrinks, and
   is the same for every image built with that budget.

Cohorts chain (``q`` joins ``p``, ``p`` joins ``r``), and each cohort is named
by its top path, its *head*.  Both rules depend only on the paths themselves,
their sizes and their popularity, never on what else the image holds, so the
same cohort is cut the same way in every image that contains its head (but
for the shared users of rule 1).

Finally the cohorts are ranked by size; the ``budget - 1`` biggest stand alone
and the others share the last layer.  Popularity has done its work in the
cohorts already: weighting the ranking by it as well only made sharing worse
(``python -m benchmarks.sharing --sensitivity``).

Without popularity data the image itself stands in for the package set:
``pop(q)`` is the number of the image's paths that need ``q``, plus one.  The rules then
see only part of the users, so cohorts vary more between images, but the
scheme still shares far better than Nixery's with popularity.

Worked example
--------------
Nixery's example, with sizes and popularity, at budget 3 (so the bound of
rule 2 is ``1e9 / 9``, about 111 MB)::

    root -> A, B          A -> C, D      B -> D, E      D -> F     E -> G
    pop:  A 1, B 1, C 2, D 3, E 2, F 4, G 3
    size: A 50M, B 40M, C 1M, D 30M, E 2M, F 80M, G 1M

* C (used by A alone) and E (by B alone) join A and B: rule 1 holds
  (``2*1 >= 2``) and they cost ``1M * 1/3`` and ``2M * 1/3``.
* G's only referrer E has pop 2, G has 3: ``2*2 >= 3``, cost ``1M * 1/4``:
  G joins E, hence B's cohort.
* D is referenced by A and B, pop 1 each, and has pop 3: neither is half of
  D's users (``2*1 < 3``), so D heads a cohort of its own.
* F's only referrer D has pop 3, F has 4: ``2*3 >= 4``, cost
  ``80M * 1/5 = 16M`` below 111M: F joins D.

Cohorts: {A, C}, {B, E, G}, {D, F}.  An image of A gets {A, C} and {D, F}, an
image of B gets {B, E, G} and {D, F}, an image of both gets all three: {D, F}
is downloaded once for all of them.  Nixery gives the image of A a single
layer {A, C, D, F}, which no other image shares.
"""

import re
from fractions import Fraction

from ..layer import Layer

#: Rule 2's bound: a merge may cost ``MERGE_SHARE / budget**2`` of the
#: referrer's closure size in expected re-download (0.33 % of it at 96 layers,
#: 1.9 % at 40, 7.5 % at 20).
MERGE_SHARE = 30

#: Where a store path name's version starts, as ``builtins.parseDrvName`` says:
#: at the first dash followed by a digit.
_VERSION = re.compile(r"-(?=[0-9])")


def group(graph, popularity, budget, merge_share=MERGE_SHARE):
    """Cut ``graph`` into at most ``budget`` layers of cohorts, in the order a
    classic Docker cache reuses best (``merge_share`` is there to measure how
    much the results depend on it)."""
    found = cohorts(graph, popularity, budget, merge_share)
    size = {head: sum(graph.nar_size[i] for i in members) for head, members in found.items()}
    ranked = sorted(found, key=lambda head: (-size[head], head))
    alone = len(ranked) if len(ranked) <= budget else budget - 1
    names = graph.names
    odds = _odds(names, popularity)
    ordered = sorted(ranked[:alone], key=lambda head: (-size[head] * odds(head), head))
    layers = [Layer(tuple(found[head]), _why(names, popularity, head, found[head])) for head in ordered]
    if alone < len(ranked):
        rest = sorted(i for head in ranked[alone:] for i in found[head])
        layers.append(Layer(tuple(rest), f"rest: {len(ranked) - alone} cohorts"))
    return layers


def cohorts(graph, popularity, budget, merge_share=MERGE_SHARE):
    """``{head: [members]}`` (path indices, sorted) before any are merged to
    fit the budget."""
    n = len(graph)
    referrers = [[] for _ in range(n)]
    for i, refs in enumerate(graph.refs):
        for r in refs:
            referrers[r].append(i)
    names = graph.names
    pop = [popularity.get(name) for name in names] if popularity else None
    family = None if pop else [_family(name) for name in names]
    head = list(range(n))
    for q in range(n):
        if pop is None:
            kin = [p for p in referrers[q] if _kin(family[p], family[q])]
            if kin:
                head[q] = max(kin, key=lambda p: (graph.closure_size[p], p))
        elif referrers[q] and pop[q] is not None:
            p = max(referrers[q], key=lambda r: (pop[r] or 1, r))
            with_p = pop[p] or 1
            # rule 2 in integers: narSize(q) * share <= merge_share * closureSize(p) / budget**2
            cost = graph.nar_size[q] * (pop[q] - with_p) * budget**2
            if 2 * with_p >= pop[q] and cost <= merge_share * graph.closure_size[p] * (pop[q] + 1):
                head[q] = p
    found = {}
    for i in range(n):
        found.setdefault(_find(head, i), []).append(i)
    return found


def _family(name):
    """``(pname, version)`` of a store path name."""
    match = _VERSION.search(name)
    return (name[: match.start()], name[match.end() :]) if match else (name, "")


def _kin(referrer, path):
    """Whether two paths are parts of one package: outputs of one derivation
    (``openssl-3.0.8-bin`` and ``openssl-3.0.8``: one version is the other's
    plus an output name) or one package split in parts of the same version
    (``squid-common-5.7`` and ``squid-5.7``)."""
    (rname, rversion), (name, version) = referrer, path
    if rname == name:
        return rversion.startswith(version + "-") or version.startswith(rversion + "-")
    return rversion == version and (name.startswith(rname + "-") or rname.startswith(name + "-"))


def _odds(names, popularity):
    """``head -> p / (1 - p)``, where ``p`` is the share of the package set
    whose closure holds the head (1 for every head without popularity)."""
    if not popularity:
        return lambda head: 1
    total = max(popularity.values()) + 1
    return lambda head: Fraction(popularity.get(names[head], 1), total - popularity.get(names[head], 1))


def _find(head, i):
    """The cohort head of ``i``, compressing the chain on the way."""
    top = i
    while head[top] != top:
        top = head[top]
    while head[i] != top:
        head[i], i = top, head[i]
    return top


def _why(names, popularity, top, members):
    """"shared" when more than one other package needs the cohort's head."""
    kind = "shared" if popularity.get(names[top], 1) > 2 else "private"
    if not popularity:
        kind = "alone"
    return f"{kind} cohort of {len(members)}" if len(members) > 1 else kind
