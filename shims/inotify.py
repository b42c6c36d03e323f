"""inotify through ctypes on the process's own libc: watch a directory for a file name.

inotify_simple does the same, but importing it pulls in ctypes.util (subprocess, shutil:
about 4 MiB resident) and its first use runs `ldconfig -p` in a subprocess to find libc.
The shim needs three calls and one struct layout, so it makes them itself.
"""
import ctypes
import os
import struct

CREATE, MODIFY, CLOSE_WRITE, MOVED_TO = 0x100, 0x002, 0x008, 0x080
_IN_CLOEXEC, _IN_NONBLOCK = os.O_CLOEXEC, os.O_NONBLOCK
_HEADER = struct.Struct("iIII")      # wd, mask, cookie, len (struct inotify_event)

_libc = None


def _lib():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(rv):
    if rv < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return rv


class Watch:
    """One inotify fd watching one directory; read() returns [(mask, name), ...]."""

    def __init__(self, directory, mask):
        self.fd = _check(_lib().inotify_init1(_IN_CLOEXEC | _IN_NONBLOCK))
        try:
            _check(_lib().inotify_add_watch(self.fd, os.fsencode(directory), mask))
        except OSError:
            os.close(self.fd)
            raise

    def fileno(self):
        return self.fd

    def read(self):
        try:
            data = os.read(self.fd, 65536)
        except BlockingIOError:
            return []
        events, off = [], 0
        while off + _HEADER.size <= len(data):
            _wd, mask, _cookie, length = _HEADER.unpack_from(data, off)
            off += _HEADER.size
            name = data[off:off + length].rstrip(b"\0")
            off += length
            events.append((mask, os.fsdecode(name)))
        return events

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
