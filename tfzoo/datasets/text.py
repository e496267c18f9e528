"""Text corpora that need no download."""

from __future__ import annotations

import sysconfig
from pathlib import Path

#: Standard-library modules whose source makes the default corpus.
STDLIB_MODULES = ("textwrap.py", "argparse.py", "string.py", "shlex.py", "difflib.py")


def load_text(path=None, max_chars=None):
    """Read a text corpus.

    Args:
        path: a text file (UTF-8). Default: the source of a few modules of
            Python's own standard library, which every Python installation has.
        max_chars: keep only the first ``max_chars`` characters.
    """
    if path is None:
        stdlib = Path(sysconfig.get_paths()["stdlib"])
        parts = [
            (stdlib / name).read_text(encoding="utf-8")
            for name in STDLIB_MODULES
            if (stdlib / name).exists()
        ]
        if not parts:  # pragma: no cover
            raise FileNotFoundError(f"no standard-library sources under {stdlib}")
        text = "\n".join(parts)
    else:
        text = Path(path).read_text(encoding="utf-8")
    if not text:
        raise ValueError(f"the corpus {path or 'stdlib'} is empty")
    return text[:max_chars] if max_chars else text
