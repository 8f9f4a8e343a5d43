"""What the benchmarks share: a PostGIS cluster started once, cached data, tables."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tests import pgcluster

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "bench" / "results" / "cache"


class BenchContext:
    """Shared state of one `make bench` run; the PostGIS cluster starts on first use."""

    def __init__(self, *, quick: bool = False) -> None:
        self.quick = quick
        self._cluster: pgcluster.Cluster | None = None
        CACHE.mkdir(parents=True, exist_ok=True)
        self.cache = CACHE

    @property
    def cluster(self) -> pgcluster.Cluster:
        if self._cluster is None:
            self._cluster = pgcluster.start()
        return self._cluster

    def __enter__(self) -> BenchContext:
        return self

    def __exit__(self, *exc) -> None:
        if self._cluster is not None:
            self._cluster.stop()


def timed(fn: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) of values."""
    if not values:
        return float("nan")
    return statistics.quantiles(sorted(values), n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def table(rows: list[dict], columns: list[str]) -> str:
    """A plain text table for the console."""
    widths = {c: max(len(c), *(len(_fmt(r.get(c))) for r in rows)) for c in columns}
    line = "  ".join(c.ljust(widths[c]) for c in columns)
    body = ["  ".join(_fmt(r.get(c)).ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join([line, "-" * len(line), *body])


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}"
    return "" if v is None else str(v)
