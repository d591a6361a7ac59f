# SPDX-License-Identifier: GPL-2.0
"""One Jinja environment for every template: sandboxed, and undefined variables are errors.

Catalogs are shared as data ("no Python needed"), and their subjects are
inline templates, so every template runs in jinja2's sandbox: no attribute
that starts with an underscore, no unsafe callables, bounded ranges, and
bounded string/list growth from * and **. A template that tries anything
else is a one-line UserError, never code run on the user's machine.
"""

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
from jinja2 import nodes
from jinja2.exceptions import SecurityError

from generator import paths
from generator.errors import UserError

# Nothing drainlab renders comes near this; a template that builds more is hostile.
MAX_RESULT = 1 << 16  # characters (or items) from one * in a template
MAX_INLINE = 4096  # characters of an inline (catalog) template


class _Sandbox(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The jinja2 sandbox, plus bounded * and ** (``'x' * 10**10`` is a memory bomb)."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: jinja2.runtime.Context, operator: str,
                   left: Any, right: Any) -> Any:
        if operator == "**":
            if _big(left) or _big(right):
                raise SecurityError("power operands are too large")
            return super().call_binop(context, operator, left, right)
        for seq, count in ((left, right), (right, left)):
            if (isinstance(seq, (str, list, tuple)) and isinstance(count, int)
                    and len(seq) * max(count, 0) > MAX_RESULT):
                raise SecurityError("repetition result is too long")
        return super().call_binop(context, operator, left, right)


def _big(value: Any) -> bool:
    return isinstance(value, (int, float)) and abs(value) > 4096


def sandboxed(directory: Path) -> jinja2.Environment:
    """A sandboxed, StrictUndefined environment for the templates under DIRECTORY."""
    return _Sandbox(
        loader=jinja2.FileSystemLoader(str(directory)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return sandboxed(paths.templates_dir())


def _fail(where: str, err: Exception) -> UserError:
    if isinstance(err, SecurityError):
        return UserError(f"{where}: refused by the template sandbox: {str(err).rstrip('.')}",
                         "templates may only use the variables they are given")
    if isinstance(err, jinja2.UndefinedError):
        return UserError(f"{where}: {err.message}", "fix the template or its variables")
    if isinstance(err, jinja2.TemplateSyntaxError):
        line = f":{err.lineno}" if err.lineno and not where.endswith("subject") else ""
        return UserError(f"{where}{line}: {err.message}", "fix the template syntax")
    if isinstance(err, jinja2.TemplateNotFound):
        return UserError(f"{where}: template {err.name} not found", "check the name under templates/")
    if isinstance(err, RecursionError):
        return UserError(f"{where}: template nests too deeply", "simplify the template")
    return UserError(f"{where}: template failed: {type(err).__name__}: {err}",
                     "fix the template or its variables")


# What a template may raise on bad input: jinja2's errors, and the Python
# errors of the operations the sandbox still allows ('a' + 1, 1 / 0, x[99]).
_TEMPLATE_ERRORS = (jinja2.TemplateError, ArithmeticError, TypeError, ValueError,
                    LookupError, AttributeError, RecursionError, OverflowError, MemoryError)


# An inline template is an expression over the variables it is given: no
# loops, assignments, macros, includes or calls. Without them the work is
# bounded by the (bounded) source length, so a catalog cannot make drainlab
# spin or fill memory.
_INLINE_NODES = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Const,
                 nodes.Getattr, nodes.Getitem, nodes.Slice, nodes.Filter, nodes.Test,
                 nodes.Concat, nodes.CondExpr, nodes.Compare, nodes.Operand, nodes.And,
                 nodes.Or, nodes.Not, nodes.Neg, nodes.Pos, nodes.Add, nodes.Sub, nodes.Mul,
                 nodes.Tuple, nodes.List, nodes.If, nodes.Keyword)
_INLINE_FILTERS = frozenset({"lower", "upper", "title", "capitalize", "trim", "length", "count",
                             "default", "d", "string", "first", "last", "join", "sort",
                             "unique", "list", "int", "e", "escape", "striptags"})


def _check_inline(tree: nodes.Template, where: str) -> None:
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _INLINE_NODES):
            raise UserError(f"{where}: '{type(node).__name__}' is not allowed in a catalog template",
                            "use only {{ variables }}, filters and if/else expressions")
        if isinstance(node, nodes.Filter) and node.name not in _INLINE_FILTERS:
            raise UserError(f"{where}: filter '{node.name}' is not allowed in a catalog template",
                            "allowed filters: " + ", ".join(sorted(_INLINE_FILTERS)))
        if isinstance(node, nodes.Test) and node.name not in ("defined", "undefined", "none",
                                                               "string", "number", "in"):
            raise UserError(f"{where}: test '{node.name}' is not allowed in a catalog template",
                            "use defined, undefined, none, string, number or in")


def render(template: str, **context: Any) -> str:
    """Render a template file under templates/, naming it on any failure.

    Errors: UserError (exit 2) for a missing template, bad syntax, an
    undefined variable or anything the sandbox refuses.
    """
    try:
        return environment().get_template(template).render(**context)
    except jinja2.TemplateNotFound:
        raise UserError(f"template {template} not found", "check the name under templates/") from None
    except _TEMPLATE_ERRORS as err:
        raise _fail(f"template {template}", err) from None


def render_string(source: str, where: str, **context: Any) -> str:
    """Render an inline template (a subject line from the catalog).

    WHERE names the source for the error ("file.yaml: commit 1 subject").
    Errors: UserError, as render().
    """
    if len(source) > MAX_INLINE:
        raise UserError(f"{where} is {len(source)} characters", f"keep it under {MAX_INLINE}")
    try:
        _check_inline(environment().parse(source), where)
        return environment().from_string(source).render(**context)
    except _TEMPLATE_ERRORS as err:
        raise _fail(where, err) from None
