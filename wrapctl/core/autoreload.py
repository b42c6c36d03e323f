"""[supervisord] autoreload=true: apply configuration edits without a command.

inotify watches the directories of every file the configuration was read from (directories,
not files: editors save by writing a new file and renaming it over the old one). Any change
there arms a debounce timer (autoreload_delay, default 0.5 s); when it fires the
configuration is re-read and applied as `wrapctl update` does, process by process. A file
that does not parse is reported in the main log and nothing running is touched.
"""
from __future__ import annotations

import asyncio
import os

from inotify_simple import INotify, flags

WATCH = (flags.CLOSE_WRITE | flags.MOVED_TO | flags.MOVED_FROM | flags.CREATE | flags.DELETE)


class AutoReload:
    def __init__(self, daemon):
        self.daemon = daemon
        self.loop = daemon.loop
        self.delay = float(daemon.config.daemon.extra_get("autoreload_delay") or 0.5)
        self.ino = INotify()
        self.dirs: dict[int, str] = {}
        self.timer = None
        self.task = None
        self.loop.add_reader(self.ino.fileno(), self._on_events)
        self._watch(daemon.config)

    def _watch(self, config) -> None:
        wanted = {os.path.dirname(f) for f in config.files}
        for d in wanted - set(self.dirs.values()):
            try:
                self.dirs[self.ino.add_watch(d, WATCH)] = d
            except OSError as e:
                self.daemon.logger.warn(f"autoreload: cannot watch {d}: {e.strerror}")

    def _on_events(self) -> None:
        self.ino.read(timeout=0)
        if self.timer is not None:
            self.timer.cancel()
        self.timer = self.loop.call_later(self.delay, self._fire)

    def _fire(self) -> None:
        self.timer = None
        if self.task is not None and not self.task.done():
            # an update is still being applied: look again once it is done
            self.task.add_done_callback(lambda _: self._on_events())
            return
        self.task = self.loop.create_task(self._apply())

    async def _apply(self) -> None:
        d = self.daemon
        try:
            new = d.reread()
        except Exception as e:          # ConfigError: one line naming file and line
            d.logger.error(f"autoreload: {e}; running programs left as they are")
            return
        self._watch(new)
        added, changed, removed = d.supervisor.diff(new)
        if not (added or changed or removed):
            return
        d.logger.info(f"autoreload: added {added or '-'}, changed {changed or '-'}, "
                      f"removed {removed or '-'}")
        await d.apply_update([])

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.task is not None:
            self.task.cancel()
        self.loop.remove_reader(self.ino.fileno())
        self.ino.close()
