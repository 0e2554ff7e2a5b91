"""Who may reach what: one rule for every HTTP route and every wire op.

Routes are added through :func:`add` (or :func:`add_static`), which records each one's rule
beside it, so the server can list its whole access policy (:func:`rules`, the table in
``docs/topics/security.md``) and a test can fail for a route added without one. A rule is
a role (``viewer``, ``operator``, ``admin``: that role or above) or ``public`` (anyone who
reaches the server, logged in or not, e.g. the login page and ``/healthz``).

Enforcement: in ``login`` mode the identity middleware lets an anonymous client reach only
public routes, so a ``viewer`` rule holds for every route; higher rules are checked per
route (:func:`labdeck.web.app.guarded`) and per op (:data:`labdeck.hub.hub.CHANNEL_OP_ROLES`,
:data:`labdeck.objects.policy.OP_ROLES`).
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from labdeck.capability import Handler
from labdeck.hub.hub import CHANNEL_OP_ROLES
from labdeck.objects.policy import OP_ROLES

__all__ = ["PUBLIC", "RULES_KEY", "add", "add_static", "markdown", "rules", "wire_rules"]

PUBLIC = "public"
RULES_KEY: web.AppKey[dict[tuple[str, str], str]] = web.AppKey("labdeck.rules", dict)


def add(app: web.Application, method: str, path: str, handler: Handler, rule: str) -> web.AbstractRoute:
    """Add a route to ``app`` and record its rule."""
    route = app.router.add_route(method, path, handler)
    app.setdefault(RULES_KEY, {})[(method, route.resource.canonical if route.resource else path)] = rule
    return route


def add_static(app: web.Application, prefix: str, folder: Path) -> None:
    """Serve ``folder`` at ``prefix`` (no symlinks followed): public, like any page's assets."""
    resource = app.router.add_static(prefix, folder, follow_symlinks=False)
    app.setdefault(RULES_KEY, {})[("GET", resource.canonical)] = PUBLIC


def rules(app: web.Application) -> dict[tuple[str, str], str]:
    """``{(method, path): rule}`` of every route added through this module."""
    found: dict[tuple[str, str], str] = app.get(RULES_KEY) or {}
    return dict(found)


def wire_rules() -> dict[str, str]:
    """``{op: least role}`` of every op of the wire protocol."""
    ops = {str(type_.__struct_config__.tag): role for type_, role in CHANNEL_OP_ROLES.items()}
    return {**ops, **OP_ROLES}


def markdown(app: web.Application) -> str:
    """The access policy as the Markdown tables of ``docs/topics/security.md``."""
    lines = ["| HTTP route | who |", "| --- | --- |"]
    lines += [f"| `{method} {path}` | {rule} |" for (method, path), rule in sorted(rules(app).items(),
                                                                                key=lambda kv: (kv[0][1], kv[0][0]))]
    lines += ["", "| wire op | least role |", "| --- | --- |"]
    lines += [f"| `{op}` | {role} |" for op, role in wire_rules().items()]
    return "\n".join(lines) + "\n"
