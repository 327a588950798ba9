"""Durable state for a service: an append-only JSON-lines journal plus snapshot.

Layout inside a service's data directory:

    snapshot.jsonl        first line {"journal_gen": G}, then records
    journal.G.jsonl       records appended since that snapshot

A record is one JSON object per line; what records mean is the service's
business. `replay()` yields the snapshot's records then the journal's, so a
snapshot is simply a compacted journal and a service needs one replay routine.

Durability: `append()` hands each record (or batch) to the kernel with one
os.write() before returning, and services call it before answering the client,
so anything acknowledged survives `kill -9` of the emulator (not a power cut,
unless `--fsync` is on, which adds an fsync per append).

Compaction (`compact(records)`) writes the service's current state as a new
snapshot with generation G+1 (temp file + rename, so a crash leaves either the
old or the new snapshot), then starts journal.G+1 and deletes journal.G. A crash
between the rename and the new journal is harmless: the snapshot already holds
everything journal.G held. Services compact at startup, which also discards a
torn last line left by a crash mid-write.
"""

import json
import logging
import os
import threading

log = logging.getLogger("emulator.journal")

SNAPSHOT = "snapshot.jsonl"


class JournalCorrupt(Exception):
    pass


def add_arguments(parser):
    g = parser.add_argument_group("persistence (with --data-dir)")
    g.add_argument("--fsync", action="store_true",
                   help="fsync the journal on every append (durable against power loss, slower)")
    g.add_argument("--journal-compact-mb", type=float, default=64.0, metavar="MB",
                   help="compact a service's journal into a snapshot once it grows past this size "
                        "and is mostly dead records (default 64)")


class Journal:
    def __init__(self, directory, fsync=False, compact_bytes=64 << 20):
        self.dir = directory
        self.fsync = fsync
        self.compact_bytes = int(compact_bytes)
        self.gen = 0
        self.size = 0
        self._fd = None
        self._lock = threading.Lock()
        os.makedirs(directory, exist_ok=True)
        tmp = os.path.join(directory, SNAPSHOT + ".tmp")
        if os.path.exists(tmp):
            os.unlink(tmp)  # an interrupted compaction; the real snapshot is intact

    @classmethod
    def from_args(cls, directory, args):
        return cls(directory, fsync=getattr(args, "fsync", False),
                   compact_bytes=getattr(args, "journal_compact_mb", 64.0) * (1 << 20))

    def _journal_path(self, gen):
        return os.path.join(self.dir, "journal.%d.jsonl" % gen)

    # ---------------------------------------------------------------- reading
    def replay(self):
        """Yield every stored record (dicts), snapshot first, then journal."""
        snap = os.path.join(self.dir, SNAPSHOT)
        self.gen = 0
        if os.path.exists(snap):
            with open(snap, "rb") as f:
                header = f.readline()
                try:
                    self.gen = int(json.loads(header)["journal_gen"])
                except (ValueError, KeyError, TypeError) as e:
                    raise JournalCorrupt("%s: bad header %r" % (snap, header[:80])) from e
                yield from self._read_lines(f, snap)
        path = self._journal_path(self.gen)
        if os.path.exists(path):
            with open(path, "rb") as f:
                yield from self._read_lines(f, path)

    @staticmethod
    def _read_lines(f, path):
        lineno = 0
        for line in f:
            lineno += 1
            if not line.endswith(b"\n"):
                # the process died in the middle of this write: it was never
                # acknowledged to anyone, so dropping it loses nothing
                log.warning("%s: ignoring torn last record (%d bytes)", path, len(line))
                return
            if line.strip() == b"":
                continue
            try:
                yield json.loads(line)
            except ValueError as e:
                raise JournalCorrupt("%s:%d: unreadable record: %s" % (path, lineno, e)) from e

    # ---------------------------------------------------------------- writing
    def compact(self, records):
        """Replace snapshot + journal by a snapshot of `records` (an iterable
        of dicts or pre-serialized JSON strings). Also opens the journal for
        appending; call it once after replay() before any append()."""
        with self._lock:
            new_gen = self.gen + 1
            snap = os.path.join(self.dir, SNAPSHOT)
            tmp = snap + ".tmp"
            with open(tmp, "wb", buffering=1 << 20) as f:
                f.write(json.dumps({"journal_gen": new_gen}).encode() + b"\n")
                for rec in records:
                    f.write(_line(rec))
                f.flush()
                if self.fsync:
                    os.fsync(f.fileno())
            os.replace(tmp, snap)
            if self.fsync:
                _fsync_dir(self.dir)
            old_fd, old_gen = self._fd, self.gen
            self._fd = os.open(self._journal_path(new_gen), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
            self.gen = new_gen
            self.size = 0
            if old_fd is not None:
                os.close(old_fd)
            for name in os.listdir(self.dir):
                if name.startswith("journal.") and name != "journal.%d.jsonl" % new_gen:
                    try:
                        os.unlink(os.path.join(self.dir, name))
                    except FileNotFoundError:
                        pass
            log.debug("compacted %s to generation %d (was %d)", self.dir, new_gen, old_gen)

    def append(self, rec):
        """Write one record (dict, or a JSON object text without newline)."""
        self.append_raw(_line(rec))

    def append_many(self, recs):
        self.append_raw(b"".join(_line(r) for r in recs))

    def append_raw(self, data):
        with self._lock:
            if self._fd is None:
                raise RuntimeError("journal is not open (call compact() after replay())")
            view = memoryview(data)
            while view:
                n = os.write(self._fd, view)
                view = view[n:]
            self.size += len(data)
            if self.fsync:
                os.fsync(self._fd)

    def needs_compaction(self, live_bytes):
        """True when the journal is past the threshold and at least half of
        it is dead (acknowledged/deleted) data, so compaction pays off."""
        return self.size > self.compact_bytes and self.size > 2 * live_bytes + (1 << 20)

    def close(self):
        with self._lock:
            if self._fd is not None:
                if self.fsync:
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = None


def _line(rec):
    if isinstance(rec, bytes):
        return rec if rec.endswith(b"\n") else rec + b"\n"
    if isinstance(rec, str):
        return rec.encode() + b"\n"
    return json.dumps(rec, separators=(",", ":")).encode() + b"\n"


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
