"""Thin layers that let code written for the systems labdeck unifies run on labdeck with only its
imports changed: ``labdeck.compat.awe`` (the research web server's templates and pages),
``labdeck.compat.iblutil`` (iblutil's rig messaging: ``EchoProtocol``, ``Services``), and more
to come (``wispy``, ``rtcloud``). Each maps the original's documented names
onto labdeck's own API; see the migration guides in ``docs/howto/``.
"""

__all__: list[str] = []
