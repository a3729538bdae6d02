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

# The child opens the source index, then adds a document and saves over the target again and
# again (each save differs from the last); it prints a line when it starts saving and before
# and after each save.
CHILD = r"""
import sys
from hybridsearch.corpus.documents import Document
from hybridsearch.index.hybrid_index import HybridIndex

source, target = sys.argv[1], sys.argv[2]
index = HybridIndex.open(source)
print("ready", flush=True)
number = 0
while True:
    number += 1
    index.add([Document(id=f"extra-{number}", text="x")])
    print("saving", number, flush=True)
    index.save(target)
    print("saved", number, flush=True)
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

    interrupted_saves, extras = 0, 0
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
        saved = [int(n) for word, n in zip(said[::2], said[1::2], strict=True) if word == "saved"]
        saving = [int(n) for word, n in zip(said[::2], said[1::2], strict=True) if word == "saving"]
        # Each child starts from the source again; one that saved nothing left the last state.
        last_saved = saved[-1] if saved else extras
        # The kill landed inside a save: files no commit names may be left (the next writer
        # removes them), and nothing beside the index.
        if saving and saving[-1] > last_saved:
            interrupted_saves += 1
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".target.")]

        # Whole saves only: the original 60 documents and the extras of the last save, or of
        # the one the kill interrupted if its commit was published.
        loaded = HybridIndex.load(target, model=encoder, verify_checksums=True)
        extras = loaded.num_documents - 60
        assert extras in {last_saved, *saving[-1:]}, (extras, said[-4:])
        assert {d.id for d in loaded.documents()} == {d.id for d in documents} | {
            f"extra-{n}" for n in range(1, extras + 1)
        }
        assert [hit.doc_id for hit in loaded.search("topic 3", k=5)] == expected
    assert interrupted_saves >= 1, "no kill landed mid-save; the test proved nothing"
