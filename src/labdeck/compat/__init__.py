"""Thin layers that let code written for the systems labdeck unifies run on labdeck with only its
imports changed: ``labdeck.compat.awe`` (the research web server's templates),
``labdeck.compat.iblutil`` (iblutil's rig messaging: ``EchoProtocol``, ``Services``),
``labdeck.compat.wispy`` (the websocket object server: ``RPCWebApp`` and ``wispyjs/rpc.js``),
and ``labdeck.compat.rtcloud`` (rt-cloud's experiment-script API: ``ClientInterface``). Each
maps the original's documented names onto labdeck's own API; see the migration guides in
``docs/howto/``.
"""

__all__: list[str] = []
