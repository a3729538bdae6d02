"""A process killed with SIGKILL in the middle of saving over an index leaves the old one.

Saving over an index is a commit into it (issue 14): a kill mid-save leaves the previous
commit, and at most files no commit names, which the next writer removes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from hybridsearch.corpus.documents import Document
from hybridsearch.index.hybrid_index import HybridIndex

# The child opens the source index and adds a document (version 1, uncommitted); a load of the
# source is version 0. It saves them over the target in turn, printing a line before and after
# each save, so the test knows whether its kill landed inside one.
CHILD = r"""
import sys
from hybridsearch.corpus.documents import Document
from hybridsearch.index.hybrid_index import HybridIndex

source, target = sys.argv[1], sys.argv[2]
index = HybridIndex.open(source)
index.add([Document(id="extra-1", text="x")])
versions = [HybridIndex.load(source, model=index.encoder), index]
print("ready", flush=True)
number = 0
while True:
    number += 1
    print("saving", number % 2, flush=True)
    versions[number % 2].save(target)
    print("saved", number % 2, flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_during_save_keeps_the_old_index(encoder, tmp_path):
    documents = [
        Document(id=f"doc-{number}", text=f"document {number} about topic {number % 7} " * 40)
        for number in range(60)
    ]
    index = HybridIndex.build(documents, model=encoder)
    source = tmp_path / "source"
    target = tmp_path / "target"
    index.save(source)
    index.save(target)
    expected = [hit.doc_id for hit in index.search("topic 3", k=5)]

    interrupted_saves, version = 0, 0
    for delay in (0.05, 0.2, 0.35, 0.5, 0.7, 0.9):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(source), str(target)],
            stdout=subprocess.PIPE,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        said = child.stdout.read().decode().split()
        events = list(zip(said[::2], map(int, said[1::2]), strict=True))
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
    assert interrupted_saves >= 1, "no kill landed mid-save; the test proved nothing"
