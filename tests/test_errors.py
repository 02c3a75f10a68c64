"""The exception tree: every exception Calmwatch defines lives in ``monitor/errors.py``, under
``CalmwatchError``, and its docstring draws all of them."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import monitor
from monitor import errors

PACKAGE = Path(monitor.__file__).parent


def _exception_classes() -> list[type[BaseException]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == errors.__name__
    ]


def test_every_error_is_a_calmwatch_error_drawn_in_the_docstring() -> None:
    """Each class of monitor.errors descends from CalmwatchError and is named in the tree of the docstring."""
    doc = errors.__doc__ or ""
    classes = _exception_classes()
    assert len(classes) >= 10
    for cls in classes:
        assert issubclass(cls, errors.CalmwatchError), cls
        assert re.search(rf"^[│├└─ ]*{cls.__name__}\b", doc, re.MULTILINE), cls


def test_the_drawn_tree_matches_the_class_hierarchy() -> None:
    """The docstring's indentation says each class's parent, and it is the real base class."""
    lines = [line for line in (errors.__doc__ or "").splitlines() if line.strip().startswith(("├", "└", "│"))]
    stack: list[tuple[int, type[BaseException]]] = [(-1, errors.CalmwatchError)]
    drawn = 0
    for line in lines:
        name_at = next((i for i, ch in enumerate(line) if ch.isalpha()), None)
        if name_at is None:
            continue
        name = line[name_at:].split()[0]
        cls = getattr(errors, name)
        while stack[-1][0] >= name_at:
            stack.pop()
        assert cls.__bases__ == (stack[-1][1],), (name, cls.__bases__, stack[-1][1])
        stack.append((name_at, cls))
        drawn += 1
    assert drawn == len(_exception_classes()) - 1  # every class but the root


def test_no_module_defines_an_exception_outside_errors_py() -> None:
    """No other module of the package declares a public exception class (private control-flow signals that
    never leave their module, like the app's body-size sentinel, are not part of the API)."""
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                bases = {ast.unparse(b).split(".")[-1] for b in node.bases}
                if any(b.endswith(("Error", "Exception")) or b in {"QueueFull"} for b in bases):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert found == []


def test_errors_carry_no_http_status() -> None:
    """Errors say what went wrong; the HTTP status is the API layer's business (monitor/api/errors.py)."""
    for cls in _exception_classes():
        assert not hasattr(cls, "status_code"), cls
