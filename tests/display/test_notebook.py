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
import os
import shutil
from pathlib import Path

import pytest

from tests.display import browser

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


@pytest.fixture(scope="module")
def executed_quickstart(tmp_path_factory):
    """The quickstart run top to bottom on a real kernel, in quick mode (see the module
    docstring); shared by the test of its outputs and the browser test.

    ``HYBRIDSEARCH_TEST_DEMO_INDEX=indexes/python-docs`` starts from a copy of a demo index
    built before (the notebook reuses it when documents and settings match), which saves
    the encoding when making screenshots on a slow machine.
    """
    from hybridsearch import HybridIndex

    if not hasattr(HybridIndex, "open_or_build"):
        pytest.skip("needs HybridIndex.open_or_build (the integrator adds it)")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")

    tmp_path = tmp_path_factory.mktemp("quickstart")
    index_root = tmp_path / "indexes"
    results_dir = tmp_path / "results"
    results_dir.mkdir()
    (results_dir / "fakeset.json").write_text(json.dumps(FAKE_BEIR_RESULT))
    (results_dir / "other.json").write_text(json.dumps({"benchmark": "bm25_speed"}))
    seed = os.environ.get("HYBRIDSEARCH_TEST_DEMO_INDEX")
    if seed:  # a demo index built already: the notebook reuses it if it still matches
        shutil.copytree(seed, index_root / "python-docs")
    notebooks_before = sorted(path.name for path in NOTEBOOKS_DIR.iterdir())
    repo_demo_index = REPO_ROOT / "indexes" / "python-docs"
    repo_demo_existed = repo_demo_index.exists()
    with pytest.MonkeyPatch.context() as monkeypatch:
        # The kernel inherits this process's environment.
        monkeypatch.setenv("HYBRIDSEARCH_INDEX_DIR", str(index_root))
        monkeypatch.setenv("HYBRIDSEARCH_RESULTS_DIR", str(results_dir))
        monkeypatch.setenv("HYBRIDSEARCH_NOTEBOOK_QUICK", "1")
        # ipykernel picks its inline backend only when no backend is forced (CI may set Agg).
        monkeypatch.delenv("MPLBACKEND", raising=False)
        notebook = nbformat.read(QUICKSTART, as_version=4)
        client = nbclient.NotebookClient(
            notebook,
            kernel_name="python3",
            timeout=300,
            resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
        )
        client.execute()  # raises CellExecutionError on the first cell that fails

    assert (index_root / "python-docs" / "manifest.json").is_file()
    assert not (index_root / "scifact").exists()  # quick mode never builds the BEIR index
    assert sorted(path.name for path in NOTEBOOKS_DIR.iterdir()) == notebooks_before
    assert repo_demo_index.exists() == repo_demo_existed
    return notebook


@pytest.mark.slow
def test_quickstart_runs_top_to_bottom(executed_quickstart):
    notebook = executed_quickstart
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


#: The README's pictures, by the tag of the cell whose output they show.
SCREENSHOTS = {"search": "notebook_hits.png", "compare": "notebook_compare.png"}


@pytest.mark.slow
def test_quickstart_in_a_browser(executed_quickstart, tmp_path):
    """The rendered notebook in headless Chromium at 1000, 1300 and 1400 px: no output table
    wider than its output area, no cell overflowing, nothing outside the tables, passage
    cells left-aligned. Screenshots go to the test's temporary folder (and to
    ``HYBRIDSEARCH_SCREENSHOT_DIR`` when set: that is how ``docs/`` pictures are made)."""
    pytest.importorskip("nbconvert")
    reason = browser.chromium_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    html_path = browser.render_html(executed_quickstart, tmp_path / "quickstart.html")
    with browser.open_page(html_path, tmp_path / "chromium-profile", 1300) as page:
        for width in (1000, 1400, 1300):
            measured = browser.layout_problems(page, width)
            assert measured["problems"] == [], (width, measured["problems"])
            # The search cell's table, three in the comparison, one in the BEIR part's
            # absence: at least four hit tables, every passage cell left-aligned.
            assert measured["hitTables"] >= 4 and measured["passageCells"] >= 15
            assert measured["passageAlignments"] in (["left"], ["start"]), measured
        saved = browser.screenshot_outputs(page, SCREENSHOTS, tmp_path)
    assert all(path.stat().st_size > 10_000 for path in saved)
    target = os.environ.get("HYBRIDSEARCH_SCREENSHOT_DIR")
    if target:
        for path in saved:
            shutil.copy(path, Path(target) / path.name)
