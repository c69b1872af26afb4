"""A capability's lifecycle: the steps (``steps``), the gate that decides them (``gate``), the
edits they make to routes.yaml (``routes_edit``) and its locked atomic writes (``routes_file``)."""
