"""A minimal event loop: fds (selectors), one-shot timers (heap), signals (wakeup fd).

Nothing wakes it but an fd becoming readable or a timer falling due: idle means blocked in
epoll_wait with no timeout.
"""
import heapq
import itertools
import os
import selectors
import signal
import time


class Loop:
    def __init__(self):
        self.sel = selectors.DefaultSelector()
        self.timers = []                 # (deadline, seq, callback)
        self.cancelled = set()
        self.seq = itertools.count()
        self._sig_r = self._sig_w = None
        self.stopped = False

    # -- fds ---------------------------------------------------------------------------
    def add_reader(self, fd, callback):
        self.sel.register(fd, selectors.EVENT_READ, callback)

    def remove_reader(self, fd):
        try:
            self.sel.unregister(fd)
        except (KeyError, ValueError):
            pass

    # -- timers ------------------------------------------------------------------------
    def call_later(self, delay, callback):
        handle = next(self.seq)
        heapq.heappush(self.timers, (time.monotonic() + delay, handle, callback))
        return handle

    def cancel(self, handle):
        if handle is not None:
            self.cancelled.add(handle)

    # -- signals -----------------------------------------------------------------------
    def watch_signals(self, signums, callback):
        """Deliver each signal in signums as callback(signum), from the loop, in order.

        The C-level handler writes the signal number to a pipe (set_wakeup_fd); the Python
        handler does nothing, so signal handling never runs in the middle of loop code.
        """
        self._sig_r, self._sig_w = os.pipe()
        os.set_blocking(self._sig_r, False)
        os.set_blocking(self._sig_w, False)
        signal.set_wakeup_fd(self._sig_w, warn_on_full_buffer=False)
        for s in signums:
            signal.signal(s, _noop)
            # A restarted syscall is fine: the pipe, not EINTR, carries the news.
            signal.siginterrupt(s, False)

        def drain():
            try:
                data = os.read(self._sig_r, 4096)
            except BlockingIOError:
                return
            for b in data:
                callback(b)
        self.add_reader(self._sig_r, drain)

    # -- running -----------------------------------------------------------------------
    def run(self):
        while not self.stopped:
            timeout = None
            while self.timers and self.timers[0][1] in self.cancelled:
                self.cancelled.discard(heapq.heappop(self.timers)[1])
            if self.timers:
                timeout = max(0.0, self.timers[0][0] - time.monotonic())
            for key, _ in self.sel.select(timeout):
                # An earlier callback of this batch may have unregistered (and closed) it.
                if self.sel.get_map().get(key.fd) is not key:
                    continue
                key.data()
                if self.stopped:
                    return
            now = time.monotonic()
            while self.timers and self.timers[0][0] <= now and not self.stopped:
                _, handle, cb = heapq.heappop(self.timers)
                if handle in self.cancelled:
                    self.cancelled.discard(handle)
                else:
                    cb()

    def stop(self):
        self.stopped = True


def _noop(signum, frame):
    pass
