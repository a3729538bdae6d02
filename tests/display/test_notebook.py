"""Runs notebooks/quickstart.ipynb top to bottom on a real IPython kernel.

The kernel starts in notebooks/ (as Jupyter starts it) with environment variables that send
the demo index to a temporary folder, read benchmark results from a temporary folder holding
one fake BEIR result, and skip building the BEIR index (minutes of encoding), so the run
writes nothing into the repository. Building the demo index (about 500 passages to encode)
takes most of the time.
"""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
QUICKSTART = NOTEBOOKS_DIR / "quickstart.ipynb"

# A results file as benchmarks/beir.py writes it, cut to what the plot reads.
FAKE_BEIR_RESULT = {
    "benchmark": "beir",
    "dataset": "fakeset",
    "quality": {
        mode: {"ndcg@10": value}
        for mode, value in (
            ("bm25", 0.61),
            ("dense", 0.58),
            ("hybrid-rrf", 0.66),
            ("hybrid-convex", 0.65),
        )
    },
}


def _cells_by_tag(notebook) -> dict[str, dict]:
    return {tag: cell for cell in notebook.cells for tag in cell.metadata.get("tags", ())}


def _outputs_of_type(cell, mime_type: str) -> list:
    return [
        output["data"][mime_type] for output in cell.outputs if mime_type in output.get("data", {})
    ]


def test_quickstart_is_stored_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(QUICKSTART, as_version=4)
    nbformat.validate(notebook)
    code_cells = _code_cells(notebook)
    assert code_cells
    for cell in code_cells:
        assert cell.outputs == [], f"cell {cell.get('id')} has stored outputs"
        assert cell.execution_count is None, f"cell {cell.get('id')} has an execution count"
    assert {"search", "search-box", "compare", "plot"} <= set(_cells_by_tag(notebook))


def _code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_quickstart_imports_exist():
    # Seconds instead of the minute the full run takes: every ``from hybridsearch... import``
    # in the notebook names a module and names that exist after the layout change.
    nbformat = pytest.importorskip("nbformat")
    notebook = nbformat.read(QUICKSTART, as_version=4)
    imported = []
    for cell in _code_cells(notebook):
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and node.module.startswith("hybridsearch"):
                module = importlib.import_module(node.module)
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"
                    imported.append(f"{node.module}.{alias.name}")
    assert "hybridsearch.display.notebook.compare_modes" in imported
    assert "hybridsearch.eval.beir.load_beir" in imported


def test_quickstart_opens_indexes_with_open_or_build():
    # "Load it if it is there, else build and save it" is written once, in the index.
    nbformat = pytest.importorskip("nbformat")
    sources = [cell.source for cell in _code_cells(nbformat.read(QUICKSTART, as_version=4))]
    assert sum(source.count("HybridIndex.open_or_build(") for source in sources) == 2
    assert not any("HybridIndex.build(" in source or ".save(" in source for source in sources)


@pytest.mark.slow
def test_quickstart_runs_top_to_bottom(tmp_path, monkeypatch):
    from hybridsearch import HybridIndex

    if not hasattr(HybridIndex, "open_or_build"):
        pytest.skip("needs HybridIndex.open_or_build (the integrator adds it)")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")

    index_root = tmp_path / "indexes"
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    (results_dir / "fakeset.json").write_text(json.dumps(FAKE_BEIR_RESULT))
    (results_dir / "other.json").write_text(json.dumps({"benchmark": "bm25_speed"}))
    # The kernel inherits this process's environment.
    monkeypatch.setenv("HYBRIDSEARCH_INDEX_DIR", str(index_root))
    monkeypatch.setenv("HYBRIDSEARCH_RESULTS_DIR", str(results_dir))
    monkeypatch.setenv("HYBRIDSEARCH_NOTEBOOK_QUICK", "1")
    # ipykernel picks its inline backend only when no backend is forced (CI may set Agg).
    monkeypatch.delenv("MPLBACKEND", raising=False)
    notebooks_before = sorted(path.name for path in NOTEBOOKS_DIR.iterdir())
    repo_demo_index = REPO_ROOT / "indexes" / "python-docs"
    repo_demo_existed = repo_demo_index.exists()

    notebook = nbformat.read(QUICKSTART, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=300,
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    client.execute()  # raises CellExecutionError on the first cell that fails

    cells = _cells_by_tag(notebook)
    (search_table,) = _outputs_of_type(cells["search"], "text/html")
    assert "<table" in search_table and "<mark>" in search_table
    assert _outputs_of_type(cells["search-box"], "application/vnd.jupyter.widget-view+json")
    # nbclient keeps the widgets' state: the box's results widget holds the rendered table.
    widgets = notebook.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    html_values = [
        model["state"].get("value", "")
        for model in widgets.values()
        if model["model_name"] == "HTMLModel"
    ]
    assert any("<table" in value and "yield" in value for value in html_values)
    (comparison,) = _outputs_of_type(cells["compare"], "text/html")
    assert comparison.count("<table") == 3
    assert _outputs_of_type(cells["plot"], "image/png")

    assert (index_root / "python-docs" / "manifest.json").is_file()
    assert not (index_root / "scifact").exists()  # quick mode never builds the BEIR index
    assert sorted(path.name for path in NOTEBOOKS_DIR.iterdir()) == notebooks_before
    assert repo_demo_index.exists() == repo_demo_existed
