"""``strangler serve --engine envoy``: Envoy as the data plane (docs/engines.md)."""
