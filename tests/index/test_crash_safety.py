"""A process killed with SIGKILL in the middle of saving over an index leaves the old one.

Saving over an index is a commit into it (issue 14): a kill mid-save leaves the previous
commit, and at most files no commit names, which the next writer removes.

The savers are forked from the durability tests' fork server (``durability_worker.py``), which
loads torch and the model once: one model-loading process for all the kills, not one per kill.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import time

import pytest

from hybridsearch.corpus.documents import Document
from hybridsearch.index.hybrid_index import HybridIndex

from .durability_support import ForkServer

KILLS = 24


@pytest.mark.skipif(
    not (hasattr(os, "fork") and hasattr(signal, "SIGKILL")), reason="needs fork and SIGKILL"
)
def test_sigkill_during_save_keeps_the_old_index(encoder, tmp_path):
    documents = [
        Document(id=f"doc-{number}", text=f"document {number} about topic {number % 7} " * 40)
        for number in range(60)
    ]
    index = HybridIndex.build(documents, model=encoder)
    # Version 0: the documents; version 1: one more. The saver saves them over the target in
    # turn, printing a line before and after each save, so the test knows whether its kill
    # landed inside one.
    versions = [tmp_path / "v0", tmp_path / "v1"]
    index.save(versions[0])
    shutil.copytree(versions[0], versions[1])
    with HybridIndex.open(versions[1], model=encoder, warm_up=False) as extended:
        extended.add([Document(id="extra-1", text="x")])
        extended.commit()
    target = tmp_path / "target"
    index.save(target)
    expected = [hit.doc_id for hit in index.search("topic 3", k=5)]

    server = ForkServer(versions[0])
    rng = random.Random(14)
    interrupted_saves, version = 0, 0
    try:
        for kill in range(KILLS):
            command = {"mode": "alternate", "versions": [str(v) for v in versions]}
            pid = server.start(**command, path=str(target))
            assert server.next_line() == "ready"
            time.sleep(rng.uniform(0.0, 0.5) if kill % 4 else 0.0)  # a quarter at once
            os.kill(pid, signal.SIGKILL)
            said: list[str] = []
            assert server.until_reaped(pid, said) == signal.SIGKILL, said
            events = [(word, int(number)) for word, number in map(str.split, said)]
            allowed = {version}
            for word, saved in events:
                if word == "saved":
                    allowed = {saved}
            if events and events[-1][0] == "saving":  # the kill landed inside a save
                interrupted_saves += 1
                allowed.add(events[-1][1])
            assert not [p for p in tmp_path.iterdir() if p.name.startswith(".target.")]

            # Whole saves only: the last saved version, or the one the kill interrupted if its
            # commit was published; files a cut save left are named by no commit.
            loaded = HybridIndex.load(target, model=encoder, verify_checksums=True)
            version = loaded.num_documents - 60
            assert version in allowed, (version, events[-4:])
            assert {d.id for d in loaded.documents()} == {d.id for d in documents} | (
                {"extra-1"} if version else set()
            )
            assert [hit.doc_id for hit in loaded.search("topic 3", k=5)] == expected
    finally:
        server.close()
    print(f"\n{KILLS} kills, {interrupted_saves} inside a save")
    assert interrupted_saves >= KILLS // 2, "few kills landed mid-save; the test proved little"
