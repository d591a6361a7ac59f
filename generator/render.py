# SPDX-License-Identifier: GPL-2.0
"""One Jinja environment for every template: undefined variables are errors."""

from functools import lru_cache
from typing import Any

import jinja2

from generator import paths
from generator.errors import UserError


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(paths.templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render(template: str, **context: Any) -> str:
    """Render a template file under templates/, naming it on any failure."""
    try:
        return environment().get_template(template).render(**context)
    except jinja2.TemplateNotFound:
        raise UserError(f"template {template} not found", "check the name under templates/") from None
    except jinja2.UndefinedError as err:
        raise UserError(f"template {template}: {err.message}", "fix the template or its variables") from None
    except jinja2.TemplateSyntaxError as err:
        raise UserError(
            f"template {template}:{err.lineno}: {err.message}", "fix the template syntax"
        ) from None


def render_string(source: str, where: str, **context: Any) -> str:
    """Render an inline template (a subject line from the catalog)."""
    try:
        return environment().from_string(source).render(**context)
    except jinja2.UndefinedError as err:
        raise UserError(f"{where}: {err.message}", "fix the template or its variables") from None
    except jinja2.TemplateSyntaxError as err:
        raise UserError(f"{where}: {err.message}", "fix the template syntax") from None
