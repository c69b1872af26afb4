"""Use cases of the catalog, each in one unit of work."""
