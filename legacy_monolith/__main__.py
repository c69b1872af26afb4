"""``python -m legacy_monolith <manage.py args>``: the monolith's manage.py."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    # Forced, not defaulted: a DJANGO_SETTINGS_MODULE left over from another project in the
    # shell would otherwise silently point this at the wrong settings.
    os.environ["DJANGO_SETTINGS_MODULE"] = "legacy_monolith.shop.settings"
    from django.core.management import execute_from_command_line

    execute_from_command_line(
        ["python -m legacy_monolith", *(sys.argv[1:] if argv is None else argv)]
    )


if __name__ == "__main__":
    main()
