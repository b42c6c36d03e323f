"""Who may hold the control server's connections, sans-IO.

A connection is *pending* from accept until its first request head has arrived and passed
the checks (Host, Origin, auth), then *admitted* for the rest of its life. Each side has a
total and a per-peer budget; a peer is a client IP on TCP and a uid (SO_PEERCRED) on a unix
socket. Nothing is refused for lack of room while something can be let go instead:
- a pending connection arriving at a full budget evicts the oldest pending one of its own
  peer (or, when the total is full, of the peer holding the most), so a flood of idle
  connections only ever pushes out the flood's own older ones; a real client sends its
  request at once and is admitted long before it becomes the oldest;
- an admitted connection at a full budget evicts the longest-idle admitted one (a kept-alive
  connection between requests) of its peer, then of anyone; only when every admitted
  connection is busy (streams, running calls) is the new one refused.
Pending connections also have a short deadline for their request head (HTTPServer's
head_timeout), so a slowloris keeps nothing for long.
"""


class Limits:
    def __init__(self, max_pending=256, max_pending_per_peer=64, max_admitted=256,
                 max_admitted_per_peer=128):
        self.max_pending = max_pending
        self.max_pending_per_peer = max_pending_per_peer
        self.max_admitted = max_admitted
        self.max_admitted_per_peer = max_admitted_per_peer
        self.pending = {}    # peer key -> {conn: None}, oldest first
        self.admitted = {}   # peer key -> {conn: None}, oldest first
        self.n_pending = 0
        self.n_admitted = 0

    def arrive(self, conn):
        """Count a new connection as pending; evicts (conn.evict()) what must make room."""
        bucket = self.pending.get(conn.key, {})
        if len(bucket) >= self.max_pending_per_peer:
            self._evict(next(iter(bucket)))
        elif self.n_pending >= self.max_pending:
            fullest = max(self.pending.values(), key=len)
            self._evict(next(iter(fullest)))
        self.pending.setdefault(conn.key, {})[conn] = None
        self.n_pending += 1

    def admit(self, conn):
        """Move `conn` from pending to admitted (idempotent); False if every admitted
        connection is busy and the budget is full."""
        if conn in self.admitted.get(conn.key, ()):
            return True
        bucket = self.admitted.get(conn.key, {})
        if len(bucket) >= self.max_admitted_per_peer:
            victim = _longest_idle(bucket)
        elif self.n_admitted >= self.max_admitted:
            victim = _longest_idle(c for b in self.admitted.values() for c in b)
        else:
            victim = True
        if victim is None:
            return False
        if victim is not True:
            self._evict(victim)
        if self._drop(self.pending, conn):
            self.n_pending -= 1
        self.admitted.setdefault(conn.key, {})[conn] = None
        self.n_admitted += 1
        return True

    def leave(self, conn):
        """Forget `conn` (closed); safe to call more than once."""
        if self._drop(self.pending, conn):
            self.n_pending -= 1
        if self._drop(self.admitted, conn):
            self.n_admitted -= 1

    def _evict(self, conn):
        self.leave(conn)
        conn.evict()

    @staticmethod
    def _drop(table, conn):
        bucket = table.get(conn.key)
        if bucket is None or conn not in bucket:
            return False
        del bucket[conn]
        if not bucket:
            del table[conn.key]
        return True


def _longest_idle(conns):
    best = None
    for c in conns:
        since = c.idle_since
        if since is not None and (best is None or since < best.idle_since):
            best = c
    return best
