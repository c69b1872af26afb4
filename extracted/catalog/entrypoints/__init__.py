"""How the world reaches the catalog: the HTTP API."""
