"""What the sync's database layer raises: one tree, messages a user can act on.

SyncError                 a database the sync cannot work with (says which and what to do)
 └── CaptureError         capture cannot be installed, removed or inspected as asked
"""

from __future__ import annotations


class SyncError(Exception):
    pass


class CaptureError(SyncError):
    pass
