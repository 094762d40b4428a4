"""Atomic, interrupt-safe file writes.

Every file the package writes goes through `atomic_write`: the writer fills a temporary file in
the target's folder, which is flushed to disk and renamed over the target only once complete. A
write that raises or is interrupted (Ctrl-C, a full disk, a lock held by another process) leaves
the previous file untouched and removes its temporary file. A process killed outright (SIGKILL,
power loss) may leave a temporary file behind: its name, ``.<target name>.<host>-<pid>-<token>.partial``
(`PARTIAL_SUFFIX`), is hidden, ends in an extension no reader of the package looks for, and is
removed by the next write of the same target once its process is gone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import socket
import threading

try:
    import fcntl
except ImportError:  # not on Windows, where an open file cannot be replaced anyway
    fcntl = None

PARTIAL_SUFFIX = ".partial"


def _host() -> str:
    """This machine's short name, kept to characters safe in a file name."""
    name = socket.gethostname().split(".")[0] or "host"
    return "".join(c if c.isalnum() else "_" for c in name)[:32]


def partial_name(target: str) -> str:
    """A fresh temporary file name beside `target` (see the module docstring)."""
    folder, base = os.path.split(os.path.abspath(target))
    token = secrets.token_hex(4)
    return os.path.join(folder, f".{base}.{_host()}-{os.getpid()}-{token}{PARTIAL_SUFFIX}")


def _stale_partials(target: str) -> list[str]:
    """Temporary files of earlier writes of `target` on this machine whose process is gone."""
    folder, base = os.path.split(os.path.abspath(target))
    prefix = f".{base}.{_host()}-"
    stale = []
    try:
        names = os.listdir(folder)
    except OSError:
        return stale
    for name in names:
        if not (name.startswith(prefix) and name.endswith(PARTIAL_SUFFIX)):
            continue
        pid_text = name[len(prefix):-len(PARTIAL_SUFFIX)].split("-")[0]
        if pid_text.isdigit() and not _process_alive(int(pid_text)):
            stale.append(os.path.join(folder, name))
    return stale


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def _hdf5_locking_enabled() -> bool:
    return os.environ.get("HDF5_USE_FILE_LOCKING", "").upper() not in ("FALSE", "0", "NO")


@contextlib.contextmanager
def _target_lock(target: str, what: str):
    """Hold an exclusive lock on an existing `target` (HDF5's own kind: flock) for the whole write.

    Another process reading or writing the file with HDF5 holds such a lock: replacing the file
    under it is refused, naming the file, before anything is written."""
    try:
        fd = os.open(target, os.O_RDONLY)
    except FileNotFoundError:
        yield
        return
    if fcntl is None:
        os.close(fd)
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BlockingIOError(
                errno.EWOULDBLOCK,
                f"Cannot write the {what} {target}: another process holds it open (an HDF5 file lock); "
                "close it there (or set HDF5_USE_FILE_LOCKING=FALSE if you know it is safe); "
                "the file was left unchanged",
                target,
            ) from None
        yield
    finally:
        os.close(fd)


def _fsync_path(path: str, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    except OSError as err:
        # Some file systems cannot sync a folder; the rename is still atomic there.
        if not directory or err.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def _interrupts_noted():
    """Yield a function telling whether Ctrl-C was pressed meanwhile.

    Python raises the KeyboardInterrupt of a Ctrl-C in whatever Python code runs next; during a
    long h5py write that may be a weakref callback, whose exceptions Python prints and drops, and
    the write then went on to replace the file. Noting the signal lets the write refuse to
    finish: the interrupt reaches the caller and the old file stays."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield lambda: False  # another thread, or the program's own Ctrl-C handling: left alone
        return
    noted = []

    def note_and_interrupt(signum, frame):
        noted.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, note_and_interrupt)
    try:
        yield lambda: bool(noted)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def atomic_write(target, what: str = "file", lock: bool = False):
    """Yield a temporary path beside `target`; on a clean exit it replaces `target` atomically.

    Parameters
    ----------
    target : str or os.PathLike
        The file to write (replaced whole, or created).
    what : str
        What the file is, for error messages ("model file", "mesh file", ...).
    lock : bool
        Take HDF5's exclusive lock on an existing target during the write, so that a file held
        open by another HDF5 process is refused (HDF5 files) rather than replaced under it.

    Raises
    ------
    FileNotFoundError
        The target's folder does not exist.
    IsADirectoryError
        The target is a folder.
    BlockingIOError
        With `lock`, another process holds the target open.
    """
    target = os.fspath(target)
    if os.path.islink(target):
        # Replace the file the link points to, not the link.
        target = os.path.realpath(target)
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise FileNotFoundError(errno.ENOENT, f"Cannot write the {what} {target}: folder {folder} does not exist",
                                target)
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, f"Cannot write the {what} {target}: it is a folder", target)
    for stale in _stale_partials(target):
        with contextlib.suppress(OSError):
            os.remove(stale)
    locking = lock and _hdf5_locking_enabled()
    with _target_lock(target, what) if locking else contextlib.nullcontext(), _interrupts_noted() as interrupted:
        partial = partial_name(target)
        # Reserve the name (O_EXCL) with the usual permissions (the umask applies), and keep an
        # existing target's permission bits.
        os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        try:
            with contextlib.suppress(OSError):
                os.chmod(partial, os.stat(target).st_mode & 0o7777)
            yield partial
            if interrupted():
                raise KeyboardInterrupt(f"interrupted while writing {target}: the file was left unchanged")
            _fsync_path(partial)
            os.replace(partial, target)
        except BaseException:
            # Exceptions and interrupts alike: the target stays as it was, the partial file goes.
            with contextlib.suppress(OSError):
                os.remove(partial)
            raise
    _fsync_path(folder, directory=True)


def write_text(target, text: str, what: str = "file") -> None:
    """Write `text` (UTF-8) to `target` atomically."""
    with atomic_write(target, what) as partial, open(partial, "w", encoding="utf-8") as stream:
        stream.write(text)
