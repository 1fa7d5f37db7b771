"""The second workload, built from the corpus by a rule fixed before any
strategy was measured on it, so that tuning to the public workload shows.

Candidates are the archive's end-user tools: packages that at most three
others need, whose name says neither library nor documentation, debug symbols,
headers or data, and whose closure holds 10 to 800 packages.  150 of them are
drawn at random (seed 2) and given Zipf weights (the k-th drawn is asked for
with weight 1/k, as a few images are asked for far more often than the rest).
Each of the 120 requests takes one to five of them; a third of the requests
also ask for ``bash`` and ``coreutils``, a fifth for ``ca-certificates``, as
images often do.

``python -m benchmarks.workload`` rewrites ``corpus/requests-second.json``.
"""

import json
import random
import re
from collections import Counter

from .corpus import Corpus

SEED = 2
NOT_A_TOOL = re.compile(r"^lib|-(dev|doc|docs|dbg|dbgsym|data|common|examples)$")


def candidates(corpus):
    needed_by = Counter(d for p in corpus.packages.values() for d in set(p["deps"]))
    return sorted(
        name for name in corpus.packages
        if needed_by[name] <= 3 and not NOT_A_TOOL.search(name)
        and 10 <= len(corpus.closure([name])) <= 800
    )


def requests(corpus, count=120, seed=SEED):
    rng = random.Random(seed)
    pool = rng.sample(candidates(corpus), 150)
    weights = [1 / (k + 1) for k in range(len(pool))]
    out = []
    for _ in range(count):
        wanted = set(rng.choices(pool, weights, k=rng.randint(1, 5)))
        if rng.random() < 1 / 3:
            wanted |= {"bash", "coreutils"}
        if rng.random() < 1 / 5:
            wanted.add("ca-certificates")
        out.append(sorted(wanted))
    return out


def main():
    corpus = Corpus()
    doc = {"corpus": "debian-bookworm.json.gz", "seed": SEED, "generator": "benchmarks/workload.py",
           "requests": requests(corpus)}
    path = corpus.directory / "requests-second.json"
    path.write_text(json.dumps(doc, indent=None) + "\n")
    print(path)


if __name__ == "__main__":
    main()
