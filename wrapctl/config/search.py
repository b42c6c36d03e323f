"""Where supervisord looks for its configuration when no -c is given."""
from __future__ import annotations

import os
import sys
from typing import Optional


def search_paths() -> list[str]:
    """supervisord 4.3's list, in order: beside the executable, the current directory, /etc."""
    prefix = os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0] or ".")))
    return [
        os.path.join(prefix, "etc", "supervisord.conf"),
        os.path.join(prefix, "supervisord.conf"),
        os.path.abspath("supervisord.conf"),
        os.path.abspath(os.path.join("etc", "supervisord.conf")),
        "/etc/supervisord.conf",
        "/etc/supervisor/supervisord.conf",
    ]


def find_config(for_client: bool = False) -> Optional[str]:
    """The first existing file of search_paths(), or None.

    supervisorctl searches the same list as supervisord, so for_client changes nothing; it
    is there so callers say what they need.
    """
    for path in search_paths():
        if os.path.exists(path):
            return path
    return None
