"""Run the benchmarks: ``python -m bench [--only NAME ...] [--quick]``.

Each module ``bench/<name>.py`` defines ``run(ctx: BenchContext) -> dict``; its table is
printed and the whole run is written to ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

from bench.common import BenchContext

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--only", nargs="*", default=None, help="bench modules to run")
    parser.add_argument("--quick", action="store_true", help="smaller data, for a smoke run")
    args = parser.parse_args(argv)
    names = sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name not in ("common",))
    if args.only:
        unknown = set(args.only) - set(names)
        if unknown:
            parser.error(f"unknown bench {sorted(unknown)}; there are {names}")
        names = [n for n in names if n in args.only]
    results = {}
    with BenchContext(quick=args.quick) as ctx:
        for name in names:
            print(f"\n=== bench {name} ===", flush=True)
            t0 = time.perf_counter()
            results[name] = importlib.import_module(f"bench.{name}").run(ctx)
            print(f"(bench {name}: {time.perf_counter() - t0:.0f} s)", flush=True)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"\nresults: {out / 'latest.json'}")
    failed = [n for n, r in results.items() if isinstance(r, dict) and r.get("targets_met") is False]
    if failed:
        print(f"targets missed in: {', '.join(failed)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
