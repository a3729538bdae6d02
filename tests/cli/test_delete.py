"""``hybridsearch delete``: deleted documents never come back in any mode, ids come from the
command line and a file, and an unknown id deletes nothing."""

from __future__ import annotations

import re

from hybridsearch import HybridIndex
from hybridsearch.cli.main import main
from tests.cli.support import ANIMALS, assert_failed, hit_ids, search_json

SUMMARY = re.compile(
    r"^deleted (\d+) documents?: (\d+) documents, (\d+) passages in (\d+) segments?; "
    r"commit (\d+) \(\d+\.\d s\)$"
)


def _delete(capsys, index, *arguments: str) -> tuple[int, str]:
    capsys.readouterr()
    status = main(["delete", "--index", str(index), *arguments])
    return status, capsys.readouterr().err


def test_deleted_documents_never_appear(animals_copy, tmp_path, capsys):
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text("owl\n\n  bee  \n")
    status, err = _delete(capsys, animals_copy, "shark", "owl", "--ids-file", str(ids_file))
    assert status == 0, err
    match = SUMMARY.match(err.strip().splitlines()[-1])
    assert match, err
    assert match.group(1, 2, 4) == ("3", "3", "1")  # owl named twice counts once
    gone = {"shark", "owl", "bee"}
    # What the command committed, as a reader sees it: every mode and unit, deep enough to
    # return every live passage (one CLI search per query would load the model each time).
    loaded = HybridIndex.load(animals_copy)
    assert loaded.num_documents == 3
    for query in ("sharp teeth in the ocean", "nocturnal birds", "honey", "animals"):
        for mode in ("bm25", "dense", "hybrid"):
            for unit in ("documents", "passages"):
                found = {hit.doc_id for hit in loaded.search(query, 20, mode=mode, unit=unit)}
                assert gone.isdisjoint(found), (query, mode, unit)
    everything = search_json(capsys, animals_copy, "honey", "--mode", "dense", "-k", "10")
    assert sorted(hit_ids(everything)) == sorted(set(ANIMALS) - gone)


def test_unknown_id_deletes_nothing(animals_copy, capsys):
    status, err = _delete(capsys, animals_copy, "cat", "unicorn", "yeti")
    assert_failed(status, err, "'unicorn'", "'yeti'", "nothing was deleted")
    assert "'cat'" not in err
    loaded = HybridIndex.load(animals_copy)
    assert loaded.num_documents == 6
    assert hit_ids(search_json(capsys, animals_copy, "purr", "--mode", "bm25")) == ["cat"]


def test_no_ids(animals_copy, tmp_path, capsys):
    status, err = _delete(capsys, animals_copy)
    assert_failed(status, err, "no ids to delete")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    status, err = _delete(capsys, animals_copy, "--ids-file", str(empty))
    assert_failed(status, err, "no ids to delete")
    status, err = _delete(capsys, animals_copy, "--ids-file", str(tmp_path / "missing.txt"))
    assert_failed(status, err, "missing.txt")
    assert not (animals_copy / "write.lock").exists()
