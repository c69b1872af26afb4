"""The operator's side of the toolkit: the ``strangler`` command and what it runs outside the
proxy process (lifecycle and its gate, routes.yaml edits, the audit trail, replay, recording
with mitmdump, data moves, the demo). It drives ``facade`` (the proxy) and ``parallel_run``;
nothing in ``facade`` imports it. Keep this file empty of imports: ``strangler.entry`` must
ignore SIGHUP before anything heavy is loaded.
"""
