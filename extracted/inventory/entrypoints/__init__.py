"""The v1 HTTP API and its JSON shapes."""
