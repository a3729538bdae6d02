"""Writer processes for the durability tests (run as a script; not a test module).

Loading torch and the model takes seconds, and a process killed with SIGKILL cannot be reused,
so this script is a small **fork server**: it loads the model once (through
``HybridIndex.load(path)``, i.e. the model the index recorded), then for each command read from
stdin (one JSON object per line) forks a worker, prints ``worker <pid>``, waits for it and
prints ``reaped <pid> <signal or -exit code>``. Workers never run torch (every passage vector
comes from the embedding cache the test filled), so forking after the model is loaded is safe.

Worker modes, and the lines they print (one event per line, flushed at once):

``random``  a random loop of add / update / delete / commit / compact, with merges inside
            adds (``merge_factor`` 2): ``opened <gen> <digest>``, ``begin <op>``,
            ``end <op> <seconds>``, ``intent <gen> <digest>`` right before ``commit()`` and
            ``committed <gen> <digest>`` right after it. With ``pause_at`` it stops itself
            at the start of that operation (see ``_Traced``); with ``killpoint`` it kills
            itself at that point of the write path (see :data:`KILLPOINTS`).
``churn``   adds, deletes and updates, each committed, a compact every other commit, until the
            file ``stop`` exists: ``committed <gen> <digest>`` per commit.
``hold``    opens the index for writing and sleeps: ``holding <pid>``.
``alternate`` loads the indexes ``versions`` and saves them over the index in turn until
            killed: ``ready``, then ``saving <n>`` and ``saved <n>`` around each save.
``save``    loads the indexes ``versions`` and saves them over the index in turn, for
            ``seconds``: ``saving``, then ``saved <saves> <refused>`` (refused: the
            IndexLockedError another writer causes). With ``writers`` 2 it forks a second
            saver first, so two processes save to the same path at once; each prints its
            ``saved`` line.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any

_WORDS = (
    "tea coffee water leaves brew steep grind beans roast milk sugar cup pot kettle hot cold "
    "green black herbal flavour bitter sweet morning evening river stone garden window"
)
WORDS = _WORDS.split()
POOL_SIZE = 48
# Short passages, so documents span several passages and merges move many rows.
CHUNKING = {"passage_tokens": 24, "overlap": 4}
#: Points of the write path where a ``random`` worker kills itself (see ``_arm``).
KILLPOINTS = (
    "segment-half-written",
    "deletes-written",
    "commit-file-before-rename",
    "commit-renamed-before-gc",
    "gc-half-done",
    "merged-before-swap",
)


def pool_text(number: int) -> str:
    """The text of pool entry ``number`` (the test caches every pool text's vectors)."""
    rng = random.Random(number)
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 40)))


def pool_document(doc_id: str, number: int) -> Any:
    """A document with pool text ``number`` and typed metadata."""
    from hybridsearch.corpus.documents import Document

    metadata = {"n": number, "lang": "en" if number % 3 else "de"}
    return Document(id=doc_id, text=pool_text(number), metadata=metadata)


def state_digest(documents: Any) -> str:
    """A digest of the live documents in index order (id, title, text, metadata)."""
    digest = hashlib.sha256()
    for document in documents:
        record = [document.id, document.title, document.text, dict(document.metadata)]
        digest.update(json.dumps(record, sort_keys=True).encode("utf-8") + b"\n")
    return digest.hexdigest()[:16]


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


class _Traced:
    """Prints ``begin``/``end`` around an operation.

    The worker stops itself (SIGSTOP) right after ``begin`` of the ``nth`` operation named
    :attr:`pause_at`, so the test can resume it and kill it a chosen time later: an operation
    that lasts a millisecond is killed inside as surely as one that lasts a second.
    """

    pause_at: tuple[str, int] | None = None
    seen: dict[str, int] = {}  # noqa: RUF012 - one worker per process

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        _emit(f"begin {self.name}")
        count = _Traced.seen[self.name] = _Traced.seen.get(self.name, 0) + 1
        if _Traced.pause_at == (self.name, count):
            os.kill(os.getpid(), signal.SIGSTOP)
        self.started = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is None:
            _emit(f"end {self.name} {time.perf_counter() - self.started:.4f}")


def _trace_merges() -> None:
    from hybridsearch.index.updates import Updates

    original = Updates._merged

    def merged(self: Any, *args: Any) -> Any:
        with _Traced("merge"):
            return original(self, *args)

    Updates._merged = merged


def _after_calls(module: Any, name: str, nth: int, before: bool, hook: Any = _die) -> None:
    """Patch ``module.name`` so its ``nth`` call runs ``hook`` before (or after) it."""
    original = getattr(module, name)
    calls = [0]

    def patched(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        if before and calls[0] == nth:
            hook()
        result = original(*args, **kwargs)
        if not before and calls[0] == nth:
            hook()
        return result

    setattr(module, name, patched)


class _OsProxy:
    """``os`` for the commit module, with ``replace`` killing the process instead."""

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    @staticmethod
    def replace(*args: Any) -> None:
        _die()


def _half_rmtree(path: Any, ignore_errors: bool = False) -> None:
    """Remove one file of ``path``, then die: garbage collection cut in the middle."""
    files = sorted(p for p in Path(path).rglob("*") if p.is_file())
    if files:
        files[0].unlink()
    _die()


def _arm(killpoint: str, nth: int) -> None:
    """Make the ``nth`` pass through ``killpoint`` kill this process."""
    from hybridsearch.index import segment, updates, writer

    if killpoint == "segment-half-written":
        # The nth segment written dies after a few of its files (before segment.json).
        def arm_fsync() -> None:
            _after_calls(segment, "fsync_file", 5, before=True)

        _after_calls(writer, "write_segment", nth, before=True, hook=arm_fsync)
    elif killpoint == "deletes-written":
        _after_calls(writer, "write_deletes", nth, before=False)
    elif killpoint == "commit-file-before-rename":
        _after_calls(writer, "write_commit", nth, before=True, hook=_use_os_proxy)
    elif killpoint == "commit-renamed-before-gc":
        _after_calls(writer, "write_commit", nth, before=False)
    elif killpoint == "gc-half-done":
        _after_calls(writer, "collect_garbage", nth, before=True, hook=_use_half_rmtree)
    elif killpoint == "merged-before-swap":
        _after_calls(updates.Updates, "_merged", nth, before=False)
    else:
        raise ValueError(f"unknown killpoint {killpoint!r}")


def _use_os_proxy() -> None:
    from hybridsearch.index import commit

    commit.os = _OsProxy()


def _use_half_rmtree() -> None:
    from types import SimpleNamespace

    from hybridsearch.index import commit

    commit.shutil = SimpleNamespace(rmtree=_half_rmtree)


def _open(command: dict[str, Any], encoder: Any) -> Any:
    from hybridsearch.index.hybrid_index import HybridIndex

    index = HybridIndex.open(command["path"], model=encoder, embedding_cache=command["cache"])
    index.merge_factor = 2  # merges happen within a few adds
    return index


def _committed(index: Any, digest: str | None = None) -> int:
    """Commit, printing the generation and state before and after (see module doc)."""
    generation = index.generation + 1
    digest = digest or state_digest(index.documents())
    _emit(f"intent {generation} {digest}")
    with _Traced("commit"):
        got = index.commit()
    assert got == generation, (got, generation)
    _emit(f"committed {generation} {digest}")
    return generation


def _random_loop(command: dict[str, Any], encoder: Any) -> None:
    rng = random.Random(command["seed"])
    index = _open(command, encoder)
    _emit(f"opened {index.generation} {state_digest(index.documents())}")
    _trace_merges()
    if command.get("pause_at"):
        _Traced.pause_at = (command["pause_at"], command.get("nth", 1))
    if command.get("killpoint"):
        _arm(command["killpoint"], command.get("nth", 1))
    next_id = command["seed"] * 10_000
    for _ in range(command.get("max_ops", 400)):
        live = [document.id for document in index.documents()]
        choice = rng.random()
        if len(live) < 8 or choice < 0.3:
            new = [pool_document(f"k{next_id + n}", rng.randrange(POOL_SIZE)) for n in range(3)]
            next_id += 3
            with _Traced("add"):
                index.add(new)
        elif choice < 0.5:
            chosen = rng.sample(live, 2)
            with _Traced("update"):
                index.update([pool_document(i, rng.randrange(POOL_SIZE)) for i in chosen])
        elif choice < 0.7 or len(live) > 40:
            with _Traced("delete"):
                index.delete(rng.sample(live, rng.randint(1, 3)))
        elif choice < 0.8:
            with _Traced("compact"):
                index.compact()
        if rng.random() < 0.6:
            _committed(index)


def _churn(command: dict[str, Any], encoder: Any) -> None:
    rng = random.Random(command["seed"])
    index = _open(command, encoder)
    stop = Path(command["stop"])
    next_id, commits = 0, 0
    while not stop.exists():
        live = [document.id for document in index.documents()]
        if len(live) < 10 or rng.random() < 0.4:
            index.add([pool_document(f"c{next_id}", rng.randrange(POOL_SIZE))])
            next_id += 1
        elif rng.random() < 0.5:
            index.delete([rng.choice(live)])
        else:
            index.update([pool_document(rng.choice(live), rng.randrange(POOL_SIZE))])
        commits += 1
        if commits % 2 == 0:  # every segment replaced: the files of older commits go
            index.compact()
        generation = index.commit()
        _emit(f"committed {generation} {state_digest(index.documents())}")


def _hold(command: dict[str, Any], encoder: Any) -> None:
    index = _open(command, encoder)
    _emit(f"holding {os.getpid()}")
    time.sleep(600)
    index.close()


def _save(command: dict[str, Any], encoder: Any) -> None:
    from hybridsearch.errors import IndexLockedError
    from hybridsearch.index.hybrid_index import HybridIndex

    versions = [HybridIndex.load(v, model=encoder) for v in command["versions"]]
    child = os.fork() if command.get("writers", 1) == 2 else -1
    code = 0
    try:
        _emit("saving")
        saves = refused = 0
        deadline = time.monotonic() + command["seconds"]
        number = 0 if child else 1  # the two writers start with different versions
        while time.monotonic() < deadline:
            try:
                versions[number % len(versions)].save(command["path"])
                saves += 1
            except IndexLockedError:
                refused += 1
            number += 1
        _emit(f"saved {saves} {refused}")
    except BaseException:
        _emit("error " + json.dumps(traceback.format_exc()))
        code = 3
    if child == 0:
        sys.stdout.flush()
        os._exit(code)
    if child > 0:
        _, status = os.waitpid(child, 0)
        code = code or status
    if code:
        raise SystemExit(code)


def _alternate(command: dict[str, Any], encoder: Any) -> None:
    """Save the indexes ``versions`` over ``path`` in turn until killed: ``ready``, then
    ``saving <n>`` before and ``saved <n>`` after each save of version n."""
    from hybridsearch.index.hybrid_index import HybridIndex

    versions = [HybridIndex.load(v, model=encoder, warm_up=False) for v in command["versions"]]
    _emit("ready")
    number = 0
    while True:
        number += 1
        version = number % len(versions)
        _emit(f"saving {version}")
        versions[version].save(command["path"])
        _emit(f"saved {version}")


MODES = {
    "random": _random_loop,
    "churn": _churn,
    "hold": _hold,
    "save": _save,
    "alternate": _alternate,
}


def _run_worker(command: dict[str, Any], encoder: Any) -> None:
    """The forked worker: run one mode, then leave without returning into the server."""
    code = 0
    try:
        MODES[command["mode"]](command, encoder)
    except BaseException:
        _emit("error " + json.dumps(traceback.format_exc()))
        code = 3
    sys.stdout.flush()
    os._exit(code)


def main() -> None:
    """Load the model once (the one the index at argv[1] recorded), then serve commands."""
    import torch

    from hybridsearch.index.hybrid_index import HybridIndex

    torch.set_num_threads(1)
    encoder = HybridIndex.load(sys.argv[1]).encoder
    _emit("ready")
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _run_worker(command, encoder)
        _emit(f"worker {pid}")
        _, status = os.waitpid(pid, 0)
        code = os.WTERMSIG(status) if os.WIFSIGNALED(status) else -os.WEXITSTATUS(status)
        _emit(f"reaped {pid} {code}")


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
