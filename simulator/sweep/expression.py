"""Derived keys of a sweep: a tiny arithmetic language, checked once when the file is read and evaluated per point.

An expression holds numbers, key names (a dotted key or its last part), + - * / ** and
sqrt, log, exp, min, max; it is parsed with `ast` and walked here, never given to eval.
"""

from __future__ import annotations

import ast
import math
from typing import Any

from ..config import _show
from .axes import is_number


def _pow(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b >= 0 and abs(a).bit_length() * b <= 4096:
        return a ** b  # exact for whole numbers, but never one of millions of digits
    return math.pow(a, b)  # a ValueError for a negative base, not a complex number


_OPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
        ast.Div: lambda a, b: a / b, ast.Pow: _pow, ast.USub: lambda a: -a, ast.UAdd: lambda a: +a}
_FUNCS = {"sqrt": (math.sqrt, 1, 1), "log": (math.log, 1, 2), "exp": (math.exp, 1, 1), "min": (min, 2, 64),
          "max": (max, 2, 64)}
ALLOWED = "numbers, key names, + - * / ** and sqrt, log, exp, min, max"


def _name(node: ast.AST) -> str | None:
    """`learning_rate` or `training.learning_rate` as written in an expression."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _name(node.value)
        return head and f"{head}.{node.attr}"
    return None


def names_in(node: ast.AST) -> list[str]:
    """The names an expression reads, or ValueError naming what it may not hold."""
    if isinstance(node, ast.Expression):
        return names_in(node.body)
    if isinstance(node, ast.Constant) and is_number(node.value):
        return []
    if isinstance(node, (ast.Name, ast.Attribute)) and _name(node):
        return [_name(node)]
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return names_in(node.left) + names_in(node.right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return names_in(node.operand)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS and not node.keywords:
        _, low, high = _FUNCS[node.func.id]
        if not low <= len(node.args) <= high:
            raise ValueError(f"{node.func.id} takes {low} to {high} arguments, not {len(node.args)}")
        return [n for arg in node.args for n in names_in(arg)]
    raise ValueError(f"{ast.unparse(node)!r} is not allowed; use {ALLOWED}")


def evaluate(node: ast.AST, env: dict[str, Any], names: dict[str, str]) -> Any:
    if isinstance(node, ast.Expression):
        return evaluate(node.body, env, names)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Name, ast.Attribute)):
        key = names[_name(node)]
        if not is_number(env[key]):
            raise ValueError(f"{key} is {_show(env[key])}, not a number")
        return env[key]
    if isinstance(node, ast.BinOp):
        return _OPS[type(node.op)](evaluate(node.left, env, names), evaluate(node.right, env, names))
    if isinstance(node, ast.UnaryOp):
        return _OPS[type(node.op)](evaluate(node.operand, env, names))
    return _FUNCS[node.func.id][0](*(evaluate(arg, env, names) for arg in node.args))
