"""Counters for ``/metrics``, in Prometheus' text exposition format.

Counters and gauges are keyed by name and labels; ``observe`` keeps a
summary's ``_sum`` and ``_count``.  Everything runs on the server's event
loop (or is called from it), so no locking is needed.
"""

HELP = {
    "registry_requests_total": ("counter", "HTTP requests answered, by method and status"),
    "registry_bytes_served_total": ("counter", "bytes of response bodies sent"),
    "registry_cache_hits_total": ("counter", "image requests answered from the storage without a build"),
    "registry_cache_misses_total": ("counter", "image requests that needed a build (or joined one)"),
    "registry_builds_total": ("counter", "builds, by result (ok, not_found, failed)"),
    "registry_builds_joined_total": ("counter", "requests that waited for a build another request started"),
    "registry_builds_running": ("gauge", "builds running now"),
    "registry_build_seconds": ("summary", "time spent in nix-build runs"),
    "registry_blobs_stored_total": ("counter", "blobs copied into the storage"),
    "registry_blobs_reused_total": ("counter", "blobs of a build already in the storage"),
    "registry_negative_cache_hits_total": ("counter", "image requests answered not_found from the negative cache"),
    "registry_requests_refused_total": ("counter", "image requests refused with 429, by reason"),
    "registry_images_repaired_total": ("counter", "stored images found with a blob or manifest missing or "
                                                  "damaged, built again"),
    "registry_builds_waited_total": ("counter", "builds that waited for another replica's build of the image"),
}


class Metrics:
    def __init__(self):
        self.values = {}

    def count(self, name, amount=1, **labels):
        key = (name, tuple(sorted(labels.items())))
        self.values[key] = self.values.get(key, 0) + amount

    gauge_add = count

    def observe(self, name, value):
        self.count(f"{name}_sum", value)
        self.count(f"{name}_count")

    def get(self, name, **labels):
        return self.values.get((name, tuple(sorted(labels.items()))), 0)

    def render(self):
        lines = []
        for family, (kind, text) in HELP.items():
            lines += [f"# HELP {family} {text}", f"# TYPE {family} {kind}"]
            for name in (f"{family}_sum", f"{family}_count") if kind == "summary" else (family,):
                series = sorted(labels for n, labels in self.values if n == name) or [()]
                for labels in series:
                    value = self.values.get((name, labels), 0)
                    value = str(value) if isinstance(value, int) else f"{value:.6f}"
                    label_text = ",".join(f'{k}="{v}"' for k, v in labels)
                    lines.append(f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}")
        return "\n".join(lines) + "\n"
