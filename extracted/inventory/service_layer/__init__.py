"""Use cases of the inventory, each in one unit of work."""
