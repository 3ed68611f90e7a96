"""Templates: one Jinja2 environment over ``web/templates`` with autoescaping, the
formatting filters of :mod:`tci_gateway.web.formats`, and :func:`page`, which every route
uses to answer HTML (the signed-in person, their CSRF token and the navigation are passed
to every template).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from tci_gateway import __version__
from tci_gateway.api.problems import request_id_of
from tci_gateway.ledger.users import SignedIn
from tci_gateway.ledger.web_tables import Role
from tci_gateway.web import formats

# (path, label, the least role that sees it in the navigation)
NAVIGATION: tuple[tuple[str, str, Role], ...] = (
    ("/", "Portfolio", Role.VIEWER),
    ("/buyers", "Buyers", Role.VIEWER),
    ("/cover-requests", "Cover requests", Role.VIEWER),
    ("/review", "Review queue", Role.VIEWER),
    ("/deadlines", "Deadlines", Role.VIEWER),
    ("/cases", "Cases", Role.VIEWER),
    ("/credit", "Credit", Role.VIEWER),
    ("/behaviour", "Behaviour", Role.VIEWER),
    ("/runs", "Runs", Role.VIEWER),
)

environment = Environment(
    loader=PackageLoader("tci_gateway.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,  # a typo in a template is an error in the tests, not a blank
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["money"] = formats.money
environment.filters["day"] = formats.day
environment.filters["moment"] = formats.moment
environment.globals["percent"] = formats.percent
environment.globals["version"] = __version__


def render(template: str, **context: Any) -> str:
    """``template`` rendered with ``context`` (no request: e-mail bodies, fragments)."""
    return environment.get_template(template).render(**context)


def page(
    request: Request,
    template: str,
    signed_in: SignedIn | None,
    *,
    status_code: int = 200,
    title: str = "",
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """An HTML page: ``template`` with ``context`` plus ``me`` (the signed-in person or
    ``None``), ``csrf_token``, ``nav``, ``here`` (the path) and ``request_id``."""
    user = signed_in.user if signed_in is not None else None
    nav = [(path, label) for path, label, role in NAVIGATION if user and user.may(role)]
    html = render(
        template,
        me=user,
        csrf_token=signed_in.csrf_token if signed_in is not None else "",
        nav=nav,
        here=request.url.path,
        title=title,
        request_id=request_id_of(request) or "",
        Role=Role,
        **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=headers)
