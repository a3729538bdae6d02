"""The command line as a whole: parser assembly, ``--help`` speed, errors, and what the
command modules may import."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import hybridsearch.cli
import hybridsearch.cli.search as search_command
from hybridsearch.cli.main import COMMANDS, build_parser, main
from tests.cli.support import assert_one_line_error, run_cli

CLI_DIR = Path(hybridsearch.cli.__file__).parent
HEAVY = (
    "torch",
    "transformers",
    "faiss",
    "sentence_transformers",
    "hybridsearch.index",
    "fastapi",
    "uvicorn",
)


def test_entry_point_is_main():
    assert hybridsearch.cli.main is main
    assert hybridsearch.cli.__all__ == ["main"]


def test_help_lists_commands(tmp_path):
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("build", "add", "delete", "compact", "search", "evaluate", "adapt", "demo"):
        assert command in result.stdout


def test_help_imports_nothing_heavy(tmp_path):
    # --help (of the program and of each command) must not load torch and friends: they
    # take seconds to import. Checked in a fresh interpreter, where nothing is loaded yet.
    code = (
        "import contextlib, io, json, sys\n"
        "from hybridsearch.cli.main import main\n"
        "for argv in (['--help'], ['build', '--help'], ['add', '--help'], ['delete', '--help'],\n"
        "             ['compact', '--help'], ['search', '--help'], ['serve', '--help'],\n"
        "             ['evaluate', '--help'], ['tune', '--help'], ['adapt', '--help'],\n"
        "             ['finetune', '--help'], ['demo', '--help']):\n"
        "    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "        main(argv)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = json.loads(result.stdout)
    assert [name for name in loaded if name.startswith(HEAVY)] == []


def test_every_command_is_a_module_with_add_parser_and_run():
    assert [command.__name__.rsplit(".", 1)[1] for command in COMMANDS] == [
        "build",
        "add",
        "delete",
        "compact",
        "search",
        "serve",
        "evaluate",
        "tune",
        "adapt",
        "finetune",
        "demo",
    ]
    parser = build_parser()
    for command in COMMANDS:
        assert callable(command.add_parser) and callable(command.run)
    args = parser.parse_args(["search", "q", "--index", "i"])
    assert args.run is search_command.run
    # No --fusion: the index's own (its tuned fusion, or RRF when it has none).
    assert (args.k, args.mode, args.unit, args.fusion, args.model) == (
        10,
        "hybrid",
        "documents",
        None,
        None,
    )


def test_bad_choice_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["search", "q", "--index", "i", "--mode", "fuzzy"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'fuzzy'" in capsys.readouterr().err


def test_not_an_index(tmp_path):
    result = run_cli("search", "--index", str(tmp_path), "anything", cwd=tmp_path)
    assert_one_line_error(result, "not a hybridsearch index")


def test_verbose_shows_the_traceback(tmp_path):
    result = run_cli("--verbose", "search", "--index", str(tmp_path), "anything", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr


@pytest.mark.parametrize(
    "command", [["add", "corpus.jsonl"], ["delete", "cat"], ["compact"]], ids=lambda c: c[0]
)
def test_writing_to_a_locked_index_is_one_line(command, animals_copy, capsys):
    from hybridsearch import HybridIndex
    from hybridsearch.index.commit import WriteLock

    (animals_copy.parent / "corpus.jsonl").write_text('{"id": "whale", "text": "Whales sing."}\n')
    lock = WriteLock(animals_copy)  # another writer, as a second process would hold it
    lock.acquire()
    try:
        argv = [command[0], "--index", str(animals_copy), *command[1:]]
        if command[0] == "add":
            argv[-1] = str(animals_copy.parent / "corpus.jsonl")
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: ")
        assert f"{animals_copy} is open for writing by process" in err
        assert "one writer at a time" in err
        assert main(["--verbose", *argv]) == 1
        assert "Traceback" in capsys.readouterr().err
    finally:
        lock.release()
    # Nothing changed, and the lock is free again once its holder lets go.
    loaded = HybridIndex.load(animals_copy)
    assert (loaded.num_documents, loaded.num_segments) == (6, 1)
    with HybridIndex.open(animals_copy):
        pass


def test_a_killed_writer_does_not_leave_the_index_locked(animals_copy, capsys):
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from hybridsearch.index.commit import WriteLock\n"
        "lock = WriteLock(Path(sys.argv[1]))\n"
        "lock.acquire()\n"
        "print('locked', flush=True)\n"
        "time.sleep(120)\n"
    )
    writer = subprocess.Popen(
        [sys.executable, "-c", code, str(animals_copy)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "locked\n"
        assert main(["delete", "--index", str(animals_copy), "cat"]) == 1
        assert f"open for writing by process {writer.pid}" in capsys.readouterr().err
    finally:
        writer.kill()  # SIGKILL: no chance to clean up
        writer.wait(timeout=30)
    assert main(["delete", "--index", str(animals_copy), "cat"]) == 0
    assert "deleted 1 document: 5 documents" in capsys.readouterr().err


def test_interrupt_exits_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(search_command, "run", interrupted)
    assert main(["search", "q", "--index", "i"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


# What the CLI may import: the public API, the index and eval layers, display, the corpus
# readers and demo, the errors, and itself. Not sparse/, dense/ or search/ directly.
ALLOWED = (
    "hybridsearch",
    "hybridsearch.errors",
    "hybridsearch.corpus.readers",
    "hybridsearch.corpus.demo",
    "hybridsearch.server",
    "hybridsearch.distributed",
)
ALLOWED_PACKAGES = (
    "hybridsearch.index.",
    "hybridsearch.eval.",
    "hybridsearch.display.",
    "hybridsearch.server.",
    "hybridsearch.distributed.",
)


def _hybridsearch_imports(path: Path) -> list[str]:
    modules = []
    for node in ast.walk(ast.parse(path.read_text())):  # function-level imports included
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.append(node.module)
        elif isinstance(node, ast.Import):
            modules.extend(alias.name for alias in node.names)
    return [module for module in modules if module.split(".")[0] == "hybridsearch"]


def test_cli_imports_only_the_public_api_and_the_layers_it_may_use():
    for path in sorted(CLI_DIR.glob("*.py")):
        for module in _hybridsearch_imports(path):
            assert (
                module in ALLOWED
                or module.startswith(ALLOWED_PACKAGES)
                or module.startswith("hybridsearch.cli")
            ), f"{path.name} imports {module}"
