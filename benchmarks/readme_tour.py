"""Run the README's tour snippets in order and time each one.

Every ```python block of README.md that follows a ``<!-- tour: NAME -->``
comment is run, in order, in one namespace (later snippets use what earlier
ones made), and its wall time printed; the README quotes these times. A
block marked ``<!-- tour: NAME, slow -->`` (the full Mask R-CNN training) is
run only with ``--slow``. A snippet that fails stops the run with its name,
so this also checks that the tour works as written.

    python benchmarks/readme_tour.py            # every snippet but the slow one
    python benchmarks/readme_tour.py --slow     # also the 35-70 minute one
    python benchmarks/readme_tour.py --list     # names only
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

README = Path(__file__).resolve().parent.parent / "README.md"
MARK = re.compile(r"<!-- tour: ([\w-]+)(, slow)? -->\s*\n```python\n(.*?)\n```", re.S)


def snippets(path=README):
    """``[(name, slow, code)]`` of the marked tour blocks of ``path``, in order."""
    return [(m[1], bool(m[2]), m[3]) for m in MARK.finditer(path.read_text(encoding="utf-8"))]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", action="store_true", help="also run the slow snippets")
    parser.add_argument("--list", action="store_true", help="print the snippet names")
    parser.add_argument("--skip", action="append", default=[], help="a snippet not to run")
    parser.add_argument("--readme", default=str(README))
    args = parser.parse_args(argv)
    found = snippets(Path(args.readme))
    if not found:
        raise SystemExit(f"no <!-- tour: NAME --> blocks in {args.readme}")
    if args.list:
        for name, slow, _ in found:
            print(name + (" (slow)" if slow else ""))
        return []
    namespace = {"__name__": "__tour__"}
    rows = []
    for name, slow, code in found:
        if slow and not args.slow:
            rows.append((name, "skipped (--slow runs it)"))
            continue
        if name in args.skip:
            rows.append((name, "skipped (--skip)"))
            continue
        print(f"-- {name}", flush=True)
        start = time.perf_counter()
        try:
            exec(compile(code, f"README:{name}", "exec"), namespace)
        except Exception:
            print(f"snippet {name!r} failed:", file=sys.stderr)
            raise
        rows.append((name, f"{time.perf_counter() - start:.1f} s"))
    width = max(len(n) for n, _ in rows)
    print("\nsnippet".ljust(width + 3) + "wall time")
    for name, secs in rows:
        print(f"{name.ljust(width)}  {secs}")
    return rows


if __name__ == "__main__":
    main()
