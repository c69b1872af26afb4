"""The compare service: what an Envoy or nginx mirror targets.

A data-plane process beside the proxy that serves the traffic. Each mirrored request is
answered at once (202, no body) and, when its capability is in shadow mode, compared off the
sender's path, Diffy-style: this process asks the monolith (the control, and the twin for its
noise) and the candidate service itself, and records through the facade's shadow machinery
(``facade.shadow``: the same comparison, noise learning, redaction and store).

``mirror``: which mirrored requests are compared, and the request a job is built from.
``app``: the bounded queue, the calls, the reserved paths. ``server``: the process.
"""
