"""Parent-side helpers of the durability tests: the fork server, and what writers said.

See ``durability_worker.py`` for the processes these talk to, and ``test_durability.py``
for the tests.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from hybridsearch.errors import IndexWriteError
from hybridsearch.index import commit as commit_module
from hybridsearch.index.hybrid_index import HybridIndex

from .durability_worker import POOL_SIZE, pool_document, state_digest

WORKER = Path(__file__).with_name("durability_worker.py")
TIMEOUT = 60


class ForkServer:
    """The durability worker's fork server, its output read line by line into a queue."""

    def __init__(self, index_path: Path) -> None:
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "HF_HUB_OFFLINE": "1",
        }
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), str(index_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.workers: set[int] = set()  # forked and not yet reaped
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next_line(timeout=180) == "ready"

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def next_line(self, timeout: float = TIMEOUT) -> str:
        """The next line; a worker's traceback fails the test."""
        line = self.lines.get(timeout=timeout)
        if line is None:
            raise AssertionError(f"the fork server exited ({self.process.wait()})")
        if line.startswith("error "):
            raise AssertionError("worker failed:\n" + json.loads(line[len("error ") :]))
        return line

    def pending(self) -> list[str]:
        """Lines already read, without waiting."""
        lines = []
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return lines
            if line is None or line.startswith("error "):
                self.lines.put(line)  # next_line reports it
                return [*lines, self.next_line(timeout=1)]
            lines.append(line)

    def start(self, **command: object) -> int:
        """Fork a worker for ``command``; returns its pid."""
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.next_line()
        assert line.startswith("worker "), line
        self.workers.add(int(line.split()[1]))
        return int(line.split()[1])

    def until_reaped(self, pid: int, seen: list[str]) -> int:
        """Read lines into ``seen`` until the worker is reaped; returns its signal number
        (or minus its exit code)."""
        while True:
            line = self.next_line()
            if line.startswith(f"reaped {pid} "):
                self.workers.discard(pid)
                return int(line.split()[2])
            seen.append(line)

    def close(self) -> None:
        for pid in self.workers:  # a test that failed may leave one running
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def garbage(path: Path) -> list[str]:
    """Files and folders of the index that no commit on disk names."""
    segments, deletes = set(), set()
    for kept in commit_module.generations(path):
        for entry in commit_module.read_commit(path, kept).segments:
            segments.add(entry.name)
            deletes.update([entry.deletes] if entry.deletes else [])
    return (
        [f"segments/{n}" for n in os.listdir(path / "segments") if n not in segments]
        + [f"deletes/{n}" for n in os.listdir(path / "deletes") if n not in deletes]
        + [name for name in os.listdir(path) if name.endswith(".tmp")]
    )


def assert_no_garbage(path: Path, generation: int) -> None:
    """Only the newest commit and the one before it remain, and only files they name."""
    generations = commit_module.generations(path)
    assert generations[-1] == generation and len(generations) <= 2, generations
    assert not garbage(path)


def index_state(index: HybridIndex) -> tuple[int, str]:
    return index.generation, state_digest(index.documents())


class WriterLog:
    """What a ``random`` worker said: its open operations and its last commits."""

    def __init__(self, start: tuple[int, str]) -> None:
        self.committed = start
        self.intent: tuple[int, str] | None = None
        self.stack: list[str] = []
        self.durations: dict[str, float] = {}

    def feed(self, line: str) -> None:
        word, *rest = line.split()
        if word == "opened":
            assert (int(rest[0]), rest[1]) == self.committed, "the reopened state differs"
        elif word == "begin":
            self.stack.append(rest[0])
        elif word == "end":
            assert self.stack.pop() == rest[0]
            self.durations[rest[0]] = float(rest[1])
        elif word == "intent":
            self.intent = (int(rest[0]), rest[1])
        elif word == "committed":
            self.committed, self.intent = (int(rest[0]), rest[1]), None

    def where(self) -> str:
        if self.stack:
            return " > ".join(self.stack)
        return "between operations (committing)" if self.intent else "between operations"


def check_after_kill(path: Path, log: WriterLog, encoder) -> tuple[tuple[int, str], bool]:
    """The index opens with the last reported commit, or the one being published at the
    kill; the lock is free and garbage is gone. Returns the state, and whether it is that
    last commit being published."""
    loaded = HybridIndex.load(path, model=encoder, verify_checksums=True)
    found = index_state(loaded)
    allowed = [log.committed] + ([log.intent] if log.intent else [])
    assert found in allowed, f"loaded {found}, the writer had committed {allowed}"
    with HybridIndex.open(path, model=encoder) as writer:  # the dead writer's lock is free
        assert index_state(writer) == found
        assert_no_garbage(path, found[0])
    return found, found == log.intent


#: Typical seconds per operation, updated from what the workers report.
DURATIONS = {"add": 0.1, "update": 0.1, "delete": 0.001, "commit": 0.01, "merge": 0.05}


def wait_stopped(pid: int) -> None:
    """Wait until the worker has stopped itself (SIGSTOP), as /proc tells."""
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        try:
            state = stat.read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # no /proc: give the worker time to reach its stop
            time.sleep(0.2)
            return
        if state in "tT":
            return
        time.sleep(0.001)


def kill_inside(server: ForkServer, command: dict, log: WriterLog, rng: random.Random) -> None:
    """Run a worker that stops at the start of an operation; resume it and kill it at a
    random moment within that operation's typical duration."""
    target = command["pause_at"]
    pid = server.start(**command)
    while (line := server.next_line()) != f"begin {target}":
        log.feed(line)
    log.feed(line)
    wait_stopped(pid)
    delay = rng.uniform(0, DURATIONS.get(target, 0.05))
    os.kill(pid, signal.SIGCONT)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    seen: list[str] = []
    assert server.until_reaped(pid, seen) == signal.SIGKILL
    for line in seen:
        log.feed(line)
    DURATIONS.update(log.durations)


class Churn:
    """The generations a ``churn`` worker reported, and their states."""

    def __init__(self, server: ForkServer, start: tuple[int, str]) -> None:
        self.server = server
        self.written = dict([start])

    def newest(self) -> int:
        for line in self.server.pending():
            word, generation, digest = line.split()
            assert word == "committed", line
            self.written[int(generation)] = digest
        return max(self.written)

    def wait_for(self, generation: int) -> None:
        deadline = time.monotonic() + TIMEOUT
        while self.newest() < generation:
            assert time.monotonic() < deadline, f"the writer never reached {generation}"
            time.sleep(0.01)


def fill(directory: Path, leave: int) -> Path:
    """A file taking all but about ``leave`` bytes of the filesystem."""
    filler = directory / "filler"
    with open(filler, "wb") as handle:
        room = shutil.disk_usage(directory).free - leave
        block = b"\0" * (1 << 20)
        while room > 0:
            handle.write(block[: min(room, len(block))])
            room -= len(block)
    return filler


def fill_up(filler: Path) -> None:
    """Append to ``filler`` until not one more page fits."""
    with open(filler, "ab", buffering=0) as handle:
        try:
            while True:
                handle.write(b"\0" * 4096)
        except OSError as error:
            assert error.errno == errno.ENOSPC


def assert_no_space_error(error: IndexWriteError) -> None:
    message = str(error)
    assert "no space left" in message and "the last commit is intact" in message, message


def check_consistent(loaded: HybridIndex, number: int) -> str:
    """Counts in the commit equal the segments' and deletes'; ids distinct; a search runs."""
    commit = loaded.commit_point
    snapshot = loaded.snapshot
    assert [e.name for e in commit.segments] == [s.name for s in snapshot.segments]
    for entry, dead in zip(commit.segments, snapshot.dead_documents, strict=True):
        assert int((~dead).sum()) == entry.live_documents
    assert loaded.num_documents == sum(e.live_documents for e in commit.segments)
    documents = list(loaded.documents())
    ids = {document.id for document in documents}
    assert len(ids) == len(documents) == loaded.num_documents
    mode = "hybrid" if number % 10 == 0 else "bm25"
    hits = loaded.search("green tea kettle", k=5, mode=mode)
    assert hits and {hit.doc_id for hit in hits} <= ids
    return state_digest(documents)


SEARCHES = [
    ("green tea leaves", {"mode": "bm25"}),
    ("grind coffee beans", {"mode": "hybrid"}),
    ("hot water kettle", {"mode": "dense", "unit": "passages"}),
    ("bitter flavour morning", {"mode": "hybrid", "filter": {"lang": "en"}}),
    ("river stone garden", {"mode": "bm25", "unit": "passages", "filter": {"n": {"gte": 10}}}),
]


def search_rows(hits) -> list[tuple]:
    return [(h.doc_id, h.passage_id, round(h.score, 9)) for h in hits]


def all_searches(index: HybridIndex) -> list[list[tuple]]:
    return [search_rows(index.search(query, k=6, **options)) for query, options in SEARCHES]


def random_writes(index: HybridIndex, snapshots: list, expected: list, deleted: set[str]) -> None:
    """30 random writes; after each, its snapshot and every search's result on it."""
    rng = random.Random(5)
    for step in range(30):
        live = [d.id for d in index.documents()]
        choice = rng.random()
        if choice < 0.35 or len(live) < 8:
            index.add([pool_document(f"t{step}-{n}", rng.randrange(POOL_SIZE)) for n in (0, 1)])
        elif choice < 0.55:
            index.update([pool_document(rng.choice(live), rng.randrange(POOL_SIZE))])
        elif choice < 0.8:
            victims = rng.sample(live, 2)
            index.delete(victims)
            deleted.update(victims)  # ids are never reused
        elif choice < 0.9:
            index.compact()
        else:
            index.commit()
            continue
        snapshots.append(index.snapshot)  # the one this write swapped in
        expected.append(all_searches(index))


def search_until_done(
    index: HybridIndex, seed: int, done, deleted: set[str], records: list
) -> None:
    """Search until ``done``, recording the snapshots current before and after each."""
    rng = random.Random(seed)
    while not done.is_set():
        number = rng.randrange(len(SEARCHES))
        query, options = SEARCHES[number]
        gone = set(deleted)
        before = index.snapshot
        hits = index.search(query, k=6, **options)
        after = index.snapshot
        assert not {hit.doc_id for hit in hits} & gone, "a deleted document came back"
        records.append((number, before, after, search_rows(hits)))
