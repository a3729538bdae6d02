"""Nothing committed is ever lost, and nothing half-written is ever read (issue 10 item 7).

* SIGKILL at random moments during add, update, delete, commit, merge and compact (and at
  each step of the write path on purpose): the index opens, holds exactly the last commit
  the writer reported (or the one it was publishing when it died), and no stray file lasts.
* Readers in another process load in a loop while a writer commits: every load is one whole
  commit, the very state the writer had at that generation.
* Threads searching while another thread writes see one snapshot each, never a deleted
  document after ``delete()`` returned.
* A full disk (a real tmpfs where one can be mounted, and ENOSPC injected) gives an
  IndexWriteError that says so, and leaves the last commit intact.
* One writer: a second ``open`` (or a ``save`` over the index) names the holder; a killed
  holder frees the lock.

Writers run in processes forked from one server (``durability_worker.py``) that loads the
model once; every passage vector comes from an embedding cache filled here, so no writer
encodes.
"""

from __future__ import annotations

import collections
import errno
import gc
import os
import random
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from hybridsearch.errors import IndexLockedError, IndexWriteError
from hybridsearch.index import commit as commit_module
from hybridsearch.index import reader as reader_module
from hybridsearch.index.hybrid_index import HybridIndex

from .durability_support import (
    SEARCHES,
    Churn,
    ForkServer,
    WriterLog,
    all_searches,
    assert_no_garbage,
    assert_no_space_error,
    check_after_kill,
    check_consistent,
    fill,
    fill_up,
    garbage,
    index_state,
    kill_inside,
    random_writes,
    search_rows,
    search_until_done,
)
from .durability_worker import CHUNKING, KILLPOINTS, POOL_SIZE, pool_document, state_digest

pytestmark = pytest.mark.skipif(
    not (hasattr(os, "fork") and hasattr(signal, "SIGKILL")), reason="needs fork and SIGKILL"
)

# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Encode on one thread here: the machine is shared, and one thread is deterministic."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def base(tmp_path_factory, encoder):
    """(a saved index of 16 pool documents, the embedding cache holding every pool text)."""
    root = tmp_path_factory.mktemp("durability")
    cache = root / "cache"
    pool = [pool_document(f"p{n}", n) for n in range(POOL_SIZE)]
    HybridIndex.build(pool, model=encoder, embedding_cache=cache, chunking=CHUNKING)
    documents = [pool_document(f"b{n}", n) for n in range(16)]
    index = HybridIndex.build(documents, model=encoder, embedding_cache=cache, chunking=CHUNKING)
    index.save(root / "base")
    return root / "base", cache


@pytest.fixture(scope="module")
def server(base):
    server = ForkServer(base[0])
    yield server
    server.close()


@pytest.fixture
def fresh(base, tmp_path, encoder):
    """A copy of the base index; returns (path, cache, (generation, digest) of its commit)."""
    path = tmp_path / "index"
    shutil.copytree(base[0], path)
    return path, base[1], index_state(HybridIndex.load(path, model=encoder))


# -- 1. kills -------------------------------------------------------------------------------


def test_sigkill_at_random_moments_never_loses_a_commit(server, fresh, encoder):
    path, cache, current = fresh
    rng = random.Random(20)
    targets = ["add", "update", "delete", "commit", "merge", "compact"]
    runs = [("pause_at", targets[n % len(targets)]) for n in range(20)]
    runs += [("killpoint", killpoint) for killpoint in KILLPOINTS]
    landed: collections.Counter[str] = collections.Counter()
    published = 0
    for number, (how, where) in enumerate(runs):
        log = WriterLog(current)
        command = {
            "mode": "random",
            "path": str(path),
            "cache": str(cache),
            "seed": number + 1,
            how: where,
            "nth": 1 if where == "compact" else rng.randint(1, 3),  # compacts are rarer
        }
        if how == "pause_at":
            kill_inside(server, command, log, rng)
            landed[log.where()] += 1
        else:
            seen: list[str] = []
            assert server.until_reaped(server.start(**command), seen) == signal.SIGKILL, seen
            for line in seen:
                log.feed(line)
            landed[f"{where} (on purpose)"] += 1
        current, was_publishing = check_after_kill(path, log, encoder)
        published += was_publishing
    print(f"\n{sum(landed.values())} kills by where they landed: {dict(landed)}")
    print(f"the kill came after the commit file's rename {published} times")
    assert sum(landed.values()) >= 20
    # (A delete writes nothing until the commit, and a kill may come just after it.)
    for operation in ("add", "update", "commit", "merge", "compact"):
        assert any(operation in where for where in landed), f"no kill during {operation}"


# -- 2. readers in another process ------------------------------------------------------------


def test_loads_during_commits_are_each_one_whole_commit(server, fresh, encoder, monkeypatch):
    path, cache, start = fresh
    churn = Churn(server, start)
    # Some loads are overtaken on purpose: they stall after reading the newest commit until
    # the writer has committed three more (it compacts every other commit), so garbage
    # collection deletes the files they are opening; they must open the newer commit.
    read_commit, open_segment = reader_module.read_commit, reader_module.open_segment
    opening = {"generation": 0, "stall": False, "reads": 0}

    def counted_read(directory, generation):
        opening["generation"], opening["reads"] = generation, opening["reads"] + 1
        return read_commit(directory, generation)

    def stalled_open(folder, **options):
        if opening["stall"]:
            opening["stall"] = False
            churn.wait_for(opening["generation"] + 3)
        return open_segment(folder, **options)

    monkeypatch.setattr(reader_module, "read_commit", counted_read)
    monkeypatch.setattr(reader_module, "open_segment", stalled_open)
    stop = path.parent / "stop"
    pid = server.start(mode="churn", path=str(path), cache=str(cache), seed=3, stop=str(stop))
    loads: list[tuple[int, str]] = []
    while len(loads) < 60 or churn.newest() < 40:
        churn.newest()
        opening["stall"] = len(loads) % 8 == 7
        loaded = HybridIndex.load(path, model=encoder, verify_checksums=len(loads) % 2 == 0)
        if len(loads) % 8 == 3:
            # Read the documents only once every file this snapshot opened is deleted.
            churn.wait_for(loaded._commit.generation + 3)
        loads.append((loaded._commit.generation, check_consistent(loaded, len(loads))))
    stop.touch()
    rest: list[str] = []
    assert server.until_reaped(pid, rest) == 0
    churn.written.update((int(line.split()[1]), line.split()[2]) for line in rest)
    mixed = [(gen, got) for gen, got in loads if churn.written.get(gen) != got]
    assert not mixed, f"loads unlike the writer's commit of that generation: {mixed[:3]}"
    reopened = opening["reads"] - len(loads)
    print(
        f"\n{len(loads)} loads of {len({g for g, _ in loads})} generations "
        f"({max(churn.written)} commits); {reopened} times a load opened a newer commit"
    )
    assert len({gen for gen, _ in loads}) >= 10
    assert reopened >= 1, "no load was overtaken by garbage collection"


# -- 3. threads -----------------------------------------------------------------------------


def test_threads_search_one_snapshot_while_another_writes(fresh, encoder):
    path, cache, _ = fresh
    index = HybridIndex.open(path, model=encoder, embedding_cache=cache)
    index.merge_factor = 2
    snapshots, expected = [index.snapshot], [all_searches(index)]
    deleted: set[str] = set()
    records: list = []
    errors: list = []
    done = threading.Event()

    def collecting(function, *args) -> None:
        try:
            function(*args)
        except BaseException as error:
            errors.append(error)
        finally:
            if function is random_writes:
                done.set()

    threads = [
        threading.Thread(
            target=collecting, args=(random_writes, index, snapshots, expected, deleted)
        )
    ]
    threads += [
        threading.Thread(
            target=collecting, args=(search_until_done, index, seed, done, deleted, records)
        )
        for seed in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    index.close()
    assert not errors, errors
    # Each search equals that search on the snapshot current when it began or ended, or on
    # one that came between: never a mix of two.
    position = {id(snapshot): number for number, snapshot in enumerate(snapshots)}
    spanning = 0
    for number, before, after, rows in records:
        first, last = position[id(before)], position[id(after)]
        spanning += last > first
        candidates = [expected[at][number] for at in range(first, last + 1)]
        assert rows in candidates, (SEARCHES[number], first, last)
    print(f"\n{len(records)} searches over {len(snapshots)} snapshots; {spanning} spanned a write")
    assert len(records) >= 50


# -- 4. full disk ---------------------------------------------------------------------------


def test_a_full_tmpfs_gives_a_clear_error_and_keeps_the_last_commit(base, tmp_path, encoder):
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        refused = mounted.returncode and (mounted.stderr.strip() or f"exit {mounted.returncode}")
    except (OSError, subprocess.TimeoutExpired) as error:
        refused = str(error)
    if refused:
        pytest.skip(
            f"cannot mount a tmpfs here ({refused}); test_injected_enospc covers the same "
            "code paths with ENOSPC raised on purpose"
        )
    try:
        _exercise_full_disk(mount_point, base, encoder)
    finally:
        gc.collect()  # unmap the arrays of every index opened on the tmpfs
        if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _exercise_full_disk(mount_point: Path, base, encoder) -> None:
    path = mount_point / "index"
    shutil.copytree(base[0], path)
    writer = HybridIndex.open(path, model=encoder, embedding_cache=base[1])
    writer.merge_factor = 2
    committed = index_state(writer)
    filler = fill(mount_point, leave=400_000)
    with pytest.raises(IndexWriteError) as caught:
        for number in range(500):
            writer.add([pool_document(f"f{number}-{n}", number + n) for n in range(3)])
            writer.commit()
            committed = index_state(writer)
    assert_no_space_error(caught.value)
    print(f"\nthe disk filled after {committed[0] - 1} commits: {caught.value}")
    assert committed[0] > 1, "the disk filled before a single commit"
    fill_up(filler)  # not even a commit file fits now
    writer.delete([next(iter(writer.documents())).id])
    with pytest.raises(IndexWriteError) as caught:
        writer.commit()
    assert_no_space_error(caught.value)
    writer.close()
    assert index_state(HybridIndex.load(path, model=encoder, verify_checksums=True)) == committed
    print("left by the failed writes:", garbage(path))
    filler.unlink()
    with HybridIndex.open(path, model=encoder, embedding_cache=base[1]) as reopened:
        assert index_state(reopened) == committed
        assert_no_garbage(path, committed[0])
        reopened.add([pool_document("after", 1)])
        reopened.commit()
    assert (
        HybridIndex.load(path, model=encoder).document("after").text
        == pool_document("after", 1).text
    )


def test_injected_enospc(fresh, encoder, monkeypatch):
    """ENOSPC raised inside a segment write, and inside a commit (always runs)."""
    path, cache, committed = fresh
    writer = HybridIndex.open(path, model=encoder, embedding_cache=cache)
    segments_before = set(os.listdir(path / "segments"))
    real_save, calls = np.save, [0]

    def save_then_fail(*args, **kwargs):
        calls[0] += 1
        if calls[0] == 4:  # a few files of the segment are written already
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_save(*args, **kwargs)

    import hybridsearch.index.segment as segment_module

    monkeypatch.setattr(segment_module.np, "save", save_then_fail)
    with pytest.raises(IndexWriteError) as caught:
        writer.add([pool_document("x1", 1), pool_document("x2", 2)])
    assert_no_space_error(caught.value)
    monkeypatch.undo()
    assert calls[0] == 4
    assert set(os.listdir(path / "segments")) == segments_before  # the partial one is gone
    assert index_state(writer) == committed  # nothing changed, in memory either

    writer.delete(["b3", "b4"])
    writer.add([pool_document("x3", 3)])
    real_fsync = os.fsync

    def fsync_fails(descriptor):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(commit_module.os, "fsync", fsync_fails)
    with pytest.raises(IndexWriteError) as caught:
        writer.commit()
    monkeypatch.undo()
    assert os.fsync is real_fsync
    assert_no_space_error(caught.value)
    assert index_state(HybridIndex.load(path, model=encoder, verify_checksums=True)) == committed
    pending = state_digest(writer.documents())
    assert writer.commit() == committed[0] + 1  # the same changes commit once space is back
    writer.close()
    with HybridIndex.open(path, model=encoder) as reopened:
        assert index_state(reopened) == (committed[0] + 1, pending)
        assert_no_garbage(path, committed[0] + 1)


# -- 5. the lock ----------------------------------------------------------------------------


def test_a_second_writer_is_refused_until_the_holder_dies(server, fresh, encoder):
    path, cache, committed = fresh
    pid = server.start(mode="hold", path=str(path), cache=str(cache))
    assert server.next_line() == f"holding {pid}"
    with pytest.raises(IndexLockedError, match=f"process {pid}"):
        HybridIndex.open(path, model=encoder)
    other = HybridIndex.build([pool_document("o1", 1)], model=encoder, embedding_cache=cache)
    with pytest.raises(IndexLockedError, match=f"process {pid}"):
        other.save(path)  # replacing the index is writing to it
    assert index_state(HybridIndex.load(path, model=encoder)) == committed  # readers need no lock
    os.kill(pid, signal.SIGKILL)
    assert server.until_reaped(pid, []) == signal.SIGKILL
    with HybridIndex.open(path, model=encoder) as writer:
        assert index_state(writer) == committed


def test_a_save_never_pulls_the_index_from_under_an_open_writer(fresh, encoder):
    """Saving over an index a writer holds open used to succeed; the writer's next commit
    then named segments the save had removed, and the index no longer opened."""
    path, cache, _ = fresh
    other = HybridIndex.build([pool_document("o1", 1)], model=encoder, embedding_cache=cache)
    with HybridIndex.open(path, model=encoder, embedding_cache=cache) as writer:
        with pytest.raises(IndexLockedError):
            other.save(path)
        writer.add([pool_document("w1", 2)])
        writer.commit()
        expected = index_state(writer)
    assert index_state(HybridIndex.load(path, model=encoder, verify_checksums=True)) == expected
    other.save(path)  # no writer now: the save replaces the index
    assert [d.id for d in HybridIndex.load(path, model=encoder).documents()] == ["o1"]


# -- 6. saving over an index (issue 14 items 14 and 15) ---------------------------------------


@pytest.fixture(scope="module")
def versions(base, tmp_path_factory, encoder):
    """Three saved indexes of different documents and BM25 settings (vectors from the cache),
    and the answers each gives (see :func:`_answers`). With other settings, a load that
    mixed one save's settings with another's segments would score unlike both."""
    root = tmp_path_factory.mktemp("versions")
    paths, answers = [], []
    bm25 = [{}, {"k1": 0.9, "b": 0.4}, {"variant": "okapi", "k1": 2.0}]
    for number in range(3):
        documents = [
            pool_document(f"v{number}-{n}", (7 * number + n) % POOL_SIZE)
            for n in range(5 + 2 * number)
        ]
        index = HybridIndex.build(
            documents, model=encoder, embedding_cache=base[1], chunking=CHUNKING,
            bm25=bm25[number],
        )
        index.save(root / f"v{number}")
        paths.append(str(root / f"v{number}"))
        answers.append(_answers(HybridIndex.load(root / f"v{number}", model=encoder), True))
    return paths, answers


def _answers(index: HybridIndex, hybrid: bool) -> tuple:
    """The documents' digest and a few searches (a hybrid one when asked)."""
    searches = [("green tea leaves", "bm25"), ("river stone garden", "bm25")]
    searches += [("grind coffee beans", "hybrid")] if hybrid else []
    rows = [search_rows(index.search(query, k=6, mode=mode)) for query, mode in searches]
    return (state_digest(index.documents()), *rows)


def _staging_left(path: Path) -> list[str]:
    """Siblings a save left beside the index (staging folders, a previous index)."""
    return [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]


def test_loads_during_saves_are_each_one_saved_version(server, versions, tmp_path, encoder):
    paths, answers = versions
    path = tmp_path / "index"
    HybridIndex.load(paths[0], model=encoder).save(path)
    pid = server.start(mode="save", path=str(path), versions=paths, seconds=2.5)
    assert server.next_line() == "saving"
    seen: collections.Counter[int] = collections.Counter()
    finished: list[str] = []
    while not finished:
        hybrid = sum(seen.values()) % 8 == 0
        loaded = HybridIndex.load(path, model=encoder, verify_checksums=len(seen) % 2 == 0)
        got = _answers(loaded, hybrid)
        matching = [n for n, a in enumerate(answers) if a[: len(got)] == got]
        assert matching, f"load {sum(seen.values())} answered unlike every saved version"
        seen[matching[0]] += 1
        finished = server.pending()
    rest = [line for line in finished if not line.startswith(f"reaped {pid} ")]
    if len(rest) == len(finished):  # not reaped yet
        assert server.until_reaped(pid, rest) == 0
    else:
        assert f"reaped {pid} 0" in finished, finished
    saves = int(rest[0].split()[1])
    print(f"\n{sum(seen.values())} loads during {saves} saves, by version: {dict(seen)}")
    assert sum(seen.values()) >= 20 and len(seen) >= 2, seen
    assert not _staging_left(path)


def test_two_processes_saving_at_once_keep_the_index_whole(server, versions, tmp_path, encoder):
    paths, answers = versions
    path = tmp_path / "index"  # not there yet: the first saves race to create it
    pid = server.start(mode="save", path=str(path), versions=paths, seconds=2.0, writers=2)
    lines: list[str] = []
    assert server.until_reaped(pid, lines) == 0
    said = [line.split() for line in lines if line.startswith("saved ")]
    assert len(said) == 2, lines
    saves, refused = sum(int(s[1]) for s in said), sum(int(s[2]) for s in said)
    print(f"\ntwo writers: {saves} saves, {refused} refused (IndexLockedError)")
    # The loser is refused (IndexLockedError, counted by the worker); any other error, a
    # FileNotFoundError say, fails the worker. The writers overlapped: some saves refused.
    assert saves >= 2 and refused >= 1, said
    loaded = HybridIndex.load(path, model=encoder, verify_checksums=True)
    assert _answers(loaded, True) in answers
    assert not _staging_left(path)
    generations = commit_module.generations(path)
    assert len(generations) <= 2 and not garbage(path), (generations, garbage(path))
