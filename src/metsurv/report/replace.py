"""Replace a report folder safely: one build per folder (a lock), the new report swapped
into place atomically, a user's own files kept, and what a killed build left behind
recovered by the next one (docs/report.md)."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

from metsurv.errors import CohortError
from metsurv.report.render_html import BUILT_PREFIX

__all__ = ["GENERATOR", "BUILDING", "BuildLock", "HELD_LOCKS", "check_replaceable",
           "is_report", "kill_point", "recover", "swap_into_place"]


GENERATOR = "metsurv report"
#: Name parts of the hidden folders beside the target: ``.<name>.building-XXXX`` (a build in
#: progress) and ``.<name>.old-XXXX`` (the previous report between the two renames).
BUILDING, _OLD, _LOCK = ".building-", ".old-", ".lock"
#: The files every build writes besides those listed in provenance.json's outputs_sha256.
_ALWAYS = ("index.html", "report.pdf", "report.docx", "provenance.json")
_OUTPUT_DIRS = ("figures", "tables")


def kill_point(name: str) -> None:
    """Test hook: ``METSURV_TEST_KILL_AT=<name>`` kills the build (SIGKILL, no clean-up) at
    the named point, so the kill test can stop a build exactly where a real kill might land:
    ``locked``, ``writing``, ``built``, ``old_aside`` (between the two renames of the
    fallback, ``METSURV_SWAP=renames``), ``swapped``, ``user_files_moved``,
    ``old_half_removed``."""
    if os.environ.get("METSURV_TEST_KILL_AT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _provenance_doc(folder: Path) -> dict | None:
    try:
        doc = json.loads((folder / "provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def is_report(folder: Path) -> bool:
    """Whether ``folder`` holds a metsurv report (its provenance.json says so). Reports
    built before the ``generator`` key are recognised by their build line and checksums."""
    doc = _provenance_doc(folder)
    if doc is None:
        return False
    return doc.get("generator") == GENERATOR or (
        str(doc.get("built", "")).startswith(BUILT_PREFIX)
        and isinstance(doc.get("outputs_sha256"), dict) and "metsurv" in doc.get("versions", {}))


def _user_entries(report: Path) -> list[str]:
    """Paths (relative, POSIX) in a report folder that metsurv did not write: any top-level
    entry other than the report's files and any entry of figures/ or tables/ not listed in
    its provenance.json. A user's folder is one entry (moved whole)."""
    doc = _provenance_doc(report) or {}
    ours = set(_ALWAYS) | set(doc.get("outputs_sha256") or {})
    found = []
    for entry in sorted(report.iterdir()):
        if entry.name in _OUTPUT_DIRS and entry.is_dir() and not entry.is_symlink():
            found += [f"{entry.name}/{e.name}" for e in sorted(entry.iterdir())
                      if f"{entry.name}/{e.name}" not in ours]
        elif entry.name not in ours:
            found.append(entry.name)
    return found


def check_replaceable(target: Path) -> None:
    """A build replaces ``target`` only if it is absent, an empty folder or a previous
    metsurv report: ``--out ~/thesis`` or ``--out .`` must never delete a user's files."""
    if not target.exists() and not target.is_symlink():
        return
    if target.is_symlink() or not target.is_dir():
        raise CohortError(f"{target}: exists and is not a folder; choose another output "
                          f"folder (--out)")
    if any(target.iterdir()) and not is_report(target):
        raise CohortError(f"{target}: the folder is not empty and holds no metsurv report "
                          f"(no metsurv provenance.json), so it will not be replaced; choose "
                          f"a new or empty output folder (--out)")


class BuildLock:
    """One build per output folder: ``.<name>.lock`` beside it, held with ``flock`` (the
    kernel lets go when the holder dies, so a lock of a killed build is never stale) and
    holding the builder's pid, so that the loser can say who holds it."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.path = target.parent / f".{target.name}{_LOCK}"
        self.fd: int | None = None

    def __enter__(self) -> BuildLock:
        import fcntl

        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                owner = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
                os.close(fd)
                who = f"pid {owner[0]}" if owner and owner[0].isdigit() else "another process"
                raise CohortError(
                    f"{self.target}: another metsurv report build ({who}) is writing this "
                    f"folder now; nothing was changed: wait for it to finish and run again, "
                    f"or choose another output folder (--out)") from None
            try:  # the holder before us may have removed the file: lock the one in place
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        HELD_LOCKS.append(fd)
        kill_point("locked")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)  # before unlocking: see the inode check above
            if self.fd in HELD_LOCKS:
                HELD_LOCKS.remove(self.fd)
            os.close(self.fd)
            self.fd = None


#: Lock files this process holds: a forked worker closes its copies, so that the lock
#: goes with the builder when it dies (flock holds while any copy is open).
HELD_LOCKS: list[int] = []


def _leftovers(target: Path, kind: str) -> list[Path]:
    """The hidden folders of ``kind`` that builds of ``target`` made: exactly the names
    ``tempfile.mkdtemp`` gives (8 random characters), so a user's ``.report.old-copy`` is
    never taken for one."""
    pattern = re.compile(re.escape(f".{target.name}{kind}") + r"[a-z0-9_]{8}")
    return sorted(p for p in target.parent.iterdir() if pattern.fullmatch(p.name)
                  and p.is_dir() and not p.is_symlink())


def recover(target: Path) -> None:
    """Undo what a killed build left beside ``target`` (called under the lock, so no other
    build is running). With no folder at the target path, the newest complete report among
    the leftovers (the previous report set aside between two renames, or a finished build)
    goes there. Every other leftover gives the target the entries metsurv did not write and
    is removed. Each step is a warning."""
    olds, building = _leftovers(target, _OLD), _leftovers(target, BUILDING)
    if not target.exists() and not target.is_symlink():
        reports = [p for p in olds + building if is_report(p)]
        if reports:
            latest = max(reports, key=lambda p: p.stat().st_mtime)
            latest.rename(target)
            (olds if latest in olds else building).remove(latest)
            warnings.warn(f"{target}: restored the report from {latest.name}, left by a "
                          f"build that was stopped before it finished", UserWarning,
                          stacklevel=3)
    for old in olds:
        _retire_old(old, target)
        warnings.warn(f"{target.parent}: removed {old.name}, a previous report left by a "
                      f"build that was stopped (files you had added to it are in {target.name})",
                      UserWarning, stacklevel=3)
    for tmp in building:  # after an exchange a building folder holds the previous report
        _retire_old(tmp, target)
    if building:
        warnings.warn(f"{target.parent}: removed {len(building)} unfinished build folder(s) "
                      f"({', '.join(p.name for p in building)}) left by a build that was "
                      f"stopped", UserWarning, stacklevel=3)


def _retire_old(old: Path, target: Path) -> None:
    """Remove the previous report ``old`` after ``target`` took its place, first moving into
    ``target`` every entry metsurv did not write that ``target`` lacks (a file the user put
    in while the build ran). A half-removed ``old`` (no provenance.json any more: its user
    entries were moved before removal began) is simply removed."""
    if _provenance_doc(old) is not None and target.is_dir():
        for rel in _user_entries(old):
            dest = target / rel
            if not dest.exists() and not dest.is_symlink():
                dest.parent.mkdir(parents=True, exist_ok=True)
                (old / rel).rename(dest)
    kill_point("user_files_moved")
    # provenance.json first: a kill during removal leaves a folder recognised as half-removed
    (old / "provenance.json").unlink(missing_ok=True)
    kill_point("old_half_removed")
    shutil.rmtree(old, ignore_errors=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap the folders ``a`` and ``b`` in one step (Linux ``renameat2(RENAME_EXCHANGE)``):
    at no instant is either path missing. False where the system or file system cannot
    (then nothing happened), or where ``METSURV_SWAP=renames`` asks for the fallback."""
    if os.environ.get("METSURV_SWAP") == "renames":
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_into_place(tmp: Path, target: Path) -> None:
    """Replace ``target`` by ``tmp``; then move into ``target`` the files of the previous
    report that metsurv did not write (a new output of the same name as one of them is
    refused first, listing them) and remove the previous report.

    Where the file system can, the two folders are exchanged in one step, so a report is at
    the target path at every instant. Elsewhere two renames: a kill between them leaves the
    previous report as ``.<name>.old-XXXXXXXX``, which the next build puts back first
    (:func:`recover`).
    """
    check_replaceable(target)  # again: the folder may have changed during the build
    if not target.exists():
        tmp.rename(target)
        kill_point("swapped")
        return
    clash = [rel for rel in _user_entries(target) if (tmp / rel).exists()]
    if clash:
        raise CohortError(
            f"{target}: the new report would overwrite {len(clash)} file(s) that metsurv did "
            f"not write: {', '.join(clash)}; move or rename them and run again (the previous "
            f"report is unchanged)")
    if _exchange(tmp, target):
        old = tmp  # now holds the previous report
    else:
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}{_OLD}", dir=target.parent))
        old.rmdir()
        target.rename(old)
        kill_point("old_aside")
        try:
            tmp.rename(target)
        except BaseException:
            old.rename(target)
            raise
    kill_point("swapped")
    _retire_old(old, target)


