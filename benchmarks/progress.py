"""A one-line progress bar on stderr, for the long benchmark runs."""

import sys
import time


class Progress:
    def __init__(self, total, label, stream=sys.stderr):
        self.total, self.label, self.stream = total, label, stream
        self.count, self.start, self.shown = 0, time.monotonic(), 0.0

    def step(self):
        self.count += 1
        now = time.monotonic()
        if now - self.shown > 0.2 or self.count == self.total:
            self.shown = now
            width = 30
            filled = width * self.count // self.total
            self.stream.write(
                f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] "
                f"{self.count}/{self.total} {now - self.start:.0f}s"
            )
            self.stream.flush()

    def done(self):
        self.stream.write("\n")
