"""``python -m monitor.rules [PATH...]``: the same as ``calmwatch rules check [PATH...]`` (kept as an alias).

Validates rule packs and lists their rules (exit 0), or prints the error with its file, rule and field (exit 2).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from monitor.rules.check import check_command


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    return check_command([Path(a) for a in args] or None)


if __name__ == "__main__":
    raise SystemExit(main())
