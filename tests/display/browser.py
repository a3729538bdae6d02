"""The notebook as a person sees it: an executed notebook rendered to HTML (nbconvert's lab
template, what ``jupyter nbconvert --to html`` writes) and opened in headless Chromium
(Debian's ``chromium`` package, driven by playwright without downloading a browser).

:func:`layout_problems` measures the page with the browser's own layout: every output table
must fit its output area, no cell may overflow, and passage cells must be left-aligned.
:func:`screenshot_outputs` saves pictures of chosen cells' outputs; the README's pictures in
``docs/`` are made by the browser test with ``HYBRIDSEARCH_SCREENSHOT_DIR=docs``.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

#: Where Debian's chromium package puts the browser.
CHROMIUM = "/usr/bin/chromium"

#: Flags that work in a container as root with no display and no network.
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)

# Measured in the page: per output area, what sticks out of it or overflows a cell, and the
# alignment of the passage cells (the last column of the hit tables).
_MEASURE = """
() => {
  const problems = [];
  const page = document.documentElement.clientWidth;
  const outputs = [...document.querySelectorAll('.jp-OutputArea-output')]
    .filter(output => output.querySelector('table'));
  for (const output of outputs) {
    const box = output.getBoundingClientRect();
    if (box.right > page + 1) problems.push(`an output area ends at ${box.right} > ${page}`);
    for (const table of output.querySelectorAll('table')) {
      const rect = table.getBoundingClientRect();
      if (rect.left < box.left - 1 || rect.right > box.right + 1) {
        problems.push(`a table of ${rect.width} px in an output of ${box.width} px`);
      }
    }
    for (const cell of output.querySelectorAll('td, th')) {
      if (cell.scrollWidth > cell.clientWidth + 1) {
        problems.push(`a cell overflows: ${cell.textContent.slice(0, 60)}`);
      }
    }
    const walker = document.createTreeWalker(output, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.textContent.trim() && !node.parentElement.closest('table, h4, p')) {
        problems.push(`text outside the tables: ${node.textContent.trim().slice(0, 60)}`);
      }
    }
  }
  const passages = [...document.querySelectorAll('table.hs-hits tr td:last-child')];
  return {
    problems,
    outputs: outputs.length,
    hitTables: document.querySelectorAll('table.hs-hits').length,
    passageAlignments: [...new Set(passages.map(cell => getComputedStyle(cell).textAlign))],
    passageCells: passages.length,
  };
}
"""


def chromium_missing_reason() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    if shutil.which("chromium") is None and not Path(CHROMIUM).is_file():
        return (
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; "
            ".ci/run installs it where it can)"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is missing: pip install -e '.[test]'"
    return None


def render_html(notebook: Any, path: Path) -> Path:
    """Write ``notebook`` (executed) as nbconvert's lab-template HTML page at ``path``."""
    from nbconvert import HTMLExporter

    body, _resources = HTMLExporter(template_name="lab").from_notebook_node(notebook)
    path.write_text(body, encoding="utf-8")
    return path


@contextlib.contextmanager
def open_page(html_path: Path, profile: Path, width: int) -> Iterator[Any]:
    """The page at ``html_path`` in headless Chromium, ``width`` px wide, with a fresh
    profile in ``profile``; every request off this machine is refused (nothing is fetched)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM if Path(CHROMIUM).is_file() else shutil.which("chromium"),
            headless=True,
            args=list(CHROMIUM_FLAGS),
            viewport={"width": width, "height": 900},
        )
        try:
            page = context.new_page()
            page.route(
                "**/*",
                lambda route: (
                    route.continue_() if route.request.url.startswith("file:") else route.abort()
                ),
            )
            page.goto(html_path.as_uri(), wait_until="load")
            yield page
        finally:
            context.close()


def layout_problems(page: Any, width: int) -> dict[str, Any]:
    """Resize the page to ``width`` px and measure it (see the module docstring)."""
    page.set_viewport_size({"width": width, "height": 900})
    return page.evaluate(_MEASURE)


def screenshot_outputs(page: Any, tags: dict[str, str], folder: Path) -> list[Path]:
    """Save a PNG of the output of each cell tagged ``tag`` as ``folder/<name>``."""
    saved = []
    for tag, name in tags.items():
        output = page.locator(f".celltag_{tag} .jp-OutputArea-output").first
        path = folder / name
        output.screenshot(path=str(path))
        saved.append(path)
    return saved
