"""A results folder claimed for one run: checked and locked before the run, written in a hidden sibling
folder, and renamed into place whole, so no folder at the target is ever half-written.

Beside a target `DIR/name` live, while a run owns it, `DIR/.name.lock` (an flock held by the run,
holding its process id) and `DIR/.name.partial-<pid>` (the folder being written). `commit()`
renames the partial folder to the target; an existing target (replaced with `force`) is first
renamed to `DIR/.name.old-<pid>` and deleted only once the new folder is in place. The kernel
drops an flock when its process dies, so the lock of a killed run is taken over as it stands;
its leftover partial and old folders are removed by the next run that holds the lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
from pathlib import Path


def write_whole(path: Path, data: bytes) -> Path:
    """Write `data` to `path` through a temporary sibling, flushed to disk and renamed over it, so no reader
    (and no crash) ever sees half a file; the temporary file is removed if the write fails."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


class OutDirError(Exception):
    """An --out folder that cannot be used; found before anything runs."""


def reason(exc: OSError) -> str:
    """The OS's words for an error: 'No space left on device'."""
    if exc.strerror:
        return exc.strerror
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _holds(folder: Path, path: Path) -> bool:
    """Whether `path` is `folder` or inside it."""
    return path == folder or folder in path.parents


def _is_empty(folder: Path) -> bool:
    with os.scandir(folder) as entries:
        return next(entries, None) is None


def problem(out: Path, force: bool = False, inputs: tuple[Path, ...] = ()) -> str | None:
    """Why results cannot go to `out` (as the user gave it), or None; looks only, changes nothing.

    `inputs` are files the run reads: --force must not delete them with the old folder.
    """
    try:
        return _problem(Path(out), Path(out).resolve(), force, inputs)
    except RuntimeError:  # Python 3.11's word for a symlink loop
        return f"--out {out} is a loop of symbolic links; give a folder for the results"
    except OSError as exc:
        return f"--out {out}: cannot look at {exc.filename or out}: {reason(exc)}; give a location you can write to"


def _problem(out: Path, target: Path, force: bool, inputs: tuple[Path, ...]) -> str | None:
    if target == target.parent:
        return f"--out {out} is the root folder; give a folder for the results"
    if target.exists() and not target.is_dir():
        return f"--out {out} is a file, not a folder; give a folder for the results"
    above = next(p for p in target.parents if p.exists())
    if not above.is_dir():
        up = len(target.parts) - len(above.parts)  # the same folder as the user spelled it, when the path says it
        spelled = ".." not in out.parts and up <= len(out.parents) and out.parents[up - 1] != Path(".")
        shown = out.parents[up - 1] if spelled else above
        return f"--out {out} is below {shown}, which is a file; give a path inside a folder"
    if not target.is_dir():
        return None
    if _holds(target, Path.cwd().resolve()):
        return f"--out {out} is the current folder or holds it; give a folder inside it or beside it"
    if _is_empty(target):
        return None
    if not force:
        return f"--out {out} already exists and is not empty; add --force to replace it whole, or give another --out"
    held = next((p for p in inputs if _holds(target, Path(p).resolve())), None)
    if held is not None:
        return f"--out {out} holds {held}, which --force would delete with the folder; give another --out"
    return None


class Lock:
    """An exclusive flock on `path`, which holds the owner's process id; `release()` removes the file."""

    def __init__(self, path: Path):
        self.path = path
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.read(fd, 32).decode(errors="replace").strip()
                os.close(fd)
                raise LockedError(owner) from None
            except BaseException:
                os.close(fd)
                raise
            # The file may have been released and removed between open and flock; then the lock is on a
            # file nobody else will look at, so try again with the file now at `path`.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        self.fd = fd
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        # Removed while still held, so a run that opens the file after this finds it gone or fresh.
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self.fd)


class LockedError(Exception):
    """The lock is held by another process (its id as text, possibly empty)."""

    def __init__(self, owner: str):
        super().__init__(owner)
        self.owner = owner


class Claim:
    """The right to write the results folder `target`: locked, with an empty `partial` folder to write into.

    Use as a context manager; leaving it without `commit()` removes the partial folder, and
    leaving it always releases the lock.
    """

    def __init__(self, out: Path, force: bool = False, inputs: tuple[Path, ...] = ()):
        self.shown = Path(out)
        self.target = Path(out).resolve()
        self.force = force
        trouble = problem(out, force, inputs)
        if trouble:
            raise OutDirError(trouble)
        parent, name = self.target.parent, self.target.name
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutDirError(f"--out {out}: cannot create {exc.filename or parent}: {reason(exc)}; "
                              "give a location you can write to") from None
        try:
            self.lock = Lock(parent / f".{name}.lock")
        except LockedError as exc:
            who = f"process {exc.owner}" if exc.owner.isdigit() else "another process"
            raise OutDirError(f"--out {out} is being written by another run ({who}); wait for it to finish, "
                              "or give another --out") from None
        except OSError as exc:
            raise OutDirError(f"--out {out}: cannot write in {parent}: {reason(exc)}; "
                              "give a location you can write to") from None
        try:
            # Checked again now that no other run can change the target.
            trouble = problem(out, force, inputs)
            if trouble:
                raise OutDirError(trouble)
            for stale in parent.glob(f".{name}.partial-*"):
                shutil.rmtree(stale, ignore_errors=True)
            for stale in parent.glob(f".{name}.old-*"):
                shutil.rmtree(stale, ignore_errors=True)
            self.partial = parent / f".{name}.partial-{os.getpid()}"
            try:
                self.partial.mkdir()
            except OSError as exc:
                raise OutDirError(f"--out {out}: cannot write in {parent}: {reason(exc)}; "
                                  "give a location you can write to") from None
        except BaseException:
            self.lock.release()
            raise
        self.committed = False

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            if not self.committed:
                self.discard()
        finally:
            self.lock.release()

    def discard(self) -> bool:
        """Remove the partial folder; return whether it is gone."""
        shutil.rmtree(self.partial, ignore_errors=True)
        return not self.partial.exists()

    def commit(self) -> None:
        """Rename the partial folder to the target, replacing an existing target whole (OSError if that fails)."""
        target = self.target
        if target.is_dir() and not _is_empty(target):
            if not self.force:
                # Filled after the checks by something that does not take the lock: never replaced without --force.
                raise OSError(errno.ENOTEMPTY, os.strerror(errno.ENOTEMPTY), str(self.shown))
            old = target.parent / f".{target.name}.old-{os.getpid()}"
            os.rename(target, old)
            try:
                os.rename(self.partial, target)
            except OSError:
                os.rename(old, target)
                raise
            self.committed = True
            shutil.rmtree(old, ignore_errors=True)
            return
        os.rename(self.partial, target)  # onto a missing target, or replacing an empty folder
        self.committed = True

    def failure(self, exc: OSError) -> str:
        """The message for results that could not be written; removes what was written of them."""
        where = ""
        if exc.filename:
            path = Path(os.path.abspath(exc.filename))
            where = f" ({path.relative_to(self.partial) if self.partial in path.parents else exc.filename})"
        if self.discard():
            left = f"{self.shown} was left as it was"
        else:
            left = f"the unfinished files are in {self.partial}: delete them"
        return f"cannot write the results into {self.shown}: {reason(exc)}{where}; {left}"
