"""Child-subreaper control and reaping (prctl through ctypes; Linux only).

As a subreaper, every orphan of the shim's tree (a double-forked daemon, a setsid()
grandchild) is re-parented to the shim instead of to init, so waitpid() returns its real
status and the whole tree can be found and killed.
"""
import ctypes
import os

from . import procfs

PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37

_libc = None


def _prctl():
    global _libc
    if _libc is None:
        # CDLL(None) is the running process's own symbols: no find_library() subprocess.
        _libc = ctypes.CDLL(None, use_errno=True)
        _libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong,
                                ctypes.c_ulong, ctypes.c_ulong]
        _libc.prctl.restype = ctypes.c_int
    return _libc.prctl


def set_child_subreaper(on=True):
    if _prctl()(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(e)}")


def is_child_subreaper():
    val = ctypes.c_int(0)
    prctl = _prctl()
    if prctl(PR_GET_CHILD_SUBREAPER, ctypes.cast(ctypes.pointer(val), ctypes.c_void_p).value,
             0, 0, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return bool(val.value)


def reap_all():
    """Reap every exited child without blocking.

    Returns (statuses, tree_empty): {pid: raw wait status} and whether no child is left at
    all. Because orphans are re-parented to a subreaper, "no child left" means no process
    of the shim's tree is left.
    """
    statuses = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return statuses, True
        if pid == 0:
            return statuses, False
        statuses[pid] = status


def kill_tree(sig, exclude=()):
    """Send sig to every live descendant of this process; returns the pids signalled."""
    sent = []
    for pid in procfs.children(os.getpid(), recursive=True, live_only=True):
        if pid in exclude:
            continue
        try:
            os.kill(pid, sig)
            sent.append(pid)
        except ProcessLookupError:
            pass
    return sent
