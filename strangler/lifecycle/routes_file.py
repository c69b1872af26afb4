"""Write routes.yaml safely: one editor at a time, all or nothing, never over someone's change.

- ``locked(path)``: an exclusive ``fcntl.flock`` on a sibling lock file (``.routes.yaml.lock``,
  never deleted: deleting a lock file lets two holders exist), waited for up to a timeout;
- ``write_atomic(path, data, expect_digest=...)``: the bytes go to a temporary file in the same
  directory (fsync), which takes the file's permission bits; then, if the file still has the
  digest read at the start (an editor may have saved meanwhile), ``before_commit`` runs (the
  CLI appends its audit record there) and the temporary file is renamed over the original and
  the directory fsynced. A reader (the facade's watcher) sees the old file or the new one,
  never half of one.

A symlinked routes.yaml is followed: the file it points at is replaced, the link stays.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from facade.config import read_routes
from facade.errors import ConfigError, FacadeError

DEFAULT_LOCK_TIMEOUT = 10.0


class RoutesFileError(FacadeError):
    """routes.yaml could not be read, locked or written; nothing was changed."""


class LockTimeout(RoutesFileError):
    """Another command held the edit lock for longer than the timeout."""


class ConcurrentChange(RoutesFileError):
    """The file changed between reading it and writing it."""


def digest(data: bytes) -> str:
    """sha256 of a file's bytes: the identity ``facade.config.Config.digest`` uses too."""
    return hashlib.sha256(data).hexdigest()


def target(path: Path) -> Path:
    """The file a (possibly symlinked) routes path names."""
    return path.resolve()


def lock_path(path: Path) -> Path:
    real = target(path)
    return real.with_name(f".{real.name}.lock")


@contextlib.contextmanager
def locked(path: Path, *, timeout: float = DEFAULT_LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the edit lock of ``path``; raise ``LockTimeout`` after ``timeout`` seconds."""
    where = lock_path(path)
    try:
        fd = os.open(where, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise RoutesFileError(f"cannot create the lock file {where}: {exc.strerror}") from None
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"{path} is being changed by another strangler command (it has held "
                        f"{where} for over {timeout:g}s); try again when it is done"
                    ) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def read(path: Path) -> tuple[bytes, str]:
    """The file's bytes and their digest, read with the facade's bounds (a regular file of at
    most ``$STRANGLER_ROUTES_MAX_BYTES``: see ``facade.config.read_routes``)."""
    try:
        data = read_routes(path)
    except ConfigError as exc:
        raise RoutesFileError(str(exc)) from None
    return data, digest(data)


def write_atomic(
    path: Path,
    data: bytes,
    *,
    expect_digest: str | None = None,
    before_commit: Callable[[], None] | None = None,
) -> None:
    """Replace ``path``'s contents with ``data`` atomically (see the module docstring).

    ``expect_digest``: the digest the file must still have, else ``ConcurrentChange`` and
    nothing is written. ``before_commit``: runs after every check, just before the rename; if
    it raises, nothing is written.
    """
    real = target(path)
    directory = real.parent
    tmp = directory / f".{real.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    try:
        mode = os.stat(real).st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise RoutesFileError(f"cannot write in {directory}: {exc.strerror}") from None
    try:
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fchmod(out.fileno(), mode)
                os.fsync(out.fileno())
        except OSError as exc:
            raise RoutesFileError(f"cannot write {tmp}: {exc.strerror}") from None
        if expect_digest is not None:
            now = read(real)[1] if real.exists() else None
            if now != expect_digest:
                raise ConcurrentChange(
                    f"{path} changed while this command was working on it (someone saved it "
                    "meanwhile); nothing was written: run the command again"
                )
        if before_commit is not None:
            before_commit()
        os.replace(tmp, real)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    # the rename is durable only once the directory entry is
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
