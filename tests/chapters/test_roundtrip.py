"""Opening and saving a chapter leaves it byte for byte as it was (``git status`` stays clean).

A chapter is a jupytext percent script. JupyterLab reads it through jupytext's contents
manager, adds what a live notebook carries (the kernel's ``kernelspec`` and
``language_info``, outputs, execution counts, view state such as collapsed headings), and
writes it back on save or autosave. Each chapter's header pins what jupytext would
otherwise add or change (the format version, the kernel's display name as the installed
ipykernel names it) and leaves out the one thing that changes with the installed jupytext
(its version), so both round trips below must be the identity, with the installed jupytext.
"""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from learnres.lectures.build import chapter_paths

jupytext = pytest.importorskip("jupytext")

CHAPTERS = chapter_paths()
FIX = (
    'rewrite the header with the installed jupytext: python -c "import jupytext, sys; '
    'p = sys.argv[1]; jupytext.write(jupytext.read(p), p)" chapters/NAME.py'
)


def _diff(before: str, after: str, name: str) -> str:
    lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True), name, name)
    return "".join(list(lines)[:40])


def test_there_are_six_chapters():
    assert len(CHAPTERS) == 6


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_jupytext_read_write_is_the_identity(path, tmp_path):
    """``jupytext.read`` then ``jupytext.write`` gives back the same bytes."""
    before = path.read_bytes()
    copy = tmp_path / path.name
    jupytext.write(jupytext.read(path), copy)
    after = copy.read_bytes()
    assert after == before, f"{FIX}\n" + _diff(before.decode(), after.decode(), path.name)


def _what_jupyterlab_adds(nb) -> None:
    """Change ``nb`` the way a notebook open in JupyterLab changes: a running kernel, Run
    All (outputs, counts, timings, widget state), a collapsed heading, a hidden input, a
    scrolled output."""
    nb.metadata["language_info"] = {
        "name": "python",
        "version": sys.version.split()[0],
        "mimetype": "text/x-python",
        "file_extension": ".py",
    }
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    count = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            count += 1
            cell.execution_count = count
            cell.outputs = [{"output_type": "stream", "name": "stdout", "text": "ran\n"}]
            cell.metadata["execution"] = {"iopub.status.busy": "2025-01-01T00:00:00Z"}
            cell.metadata["scrolled"] = True
            cell.metadata["collapsed"] = False
            cell.metadata["jupyter"] = {"source_hidden": count == 2}
        elif cell.source.lstrip().startswith("#"):
            cell.metadata["jp-MarkdownHeadingCollapsed"] = True


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_saving_from_jupyterlab_is_the_identity(path, tmp_path):
    """Through jupytext's contents manager (what ``jupyter lab`` serves files with): open
    as a notebook, run, collapse, save: the same bytes, and no other file appears."""
    from jupytext import TextFileContentsManager

    folder = tmp_path / "chapters"
    folder.mkdir()
    shutil.copy2(path, folder / path.name)
    before = path.read_bytes()
    manager = TextFileContentsManager(root_dir=str(folder))
    model = manager.get(path.name)
    assert model["type"] == "notebook"
    nb = model["content"]
    _what_jupyterlab_adds(nb)
    manager.save({"type": "notebook", "content": nb}, path.name)
    after = (folder / path.name).read_bytes()
    assert after == before, f"{FIX}\n" + _diff(before.decode(), after.decode(), path.name)
    assert sorted(p.name for p in folder.iterdir()) == [path.name]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_header_pins_the_kernel_jupyterlab_writes(path):
    """JupyterLab replaces the kernelspec by the running kernel's: the header must already
    hold the installed ``python3`` kernel's name, display name and language; jupytext's
    version (which differs between students) is filtered out."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    header = jupytext.read(path).metadata
    assert header["kernelspec"] == {
        "name": "python3",
        "display_name": spec.display_name,
        "language": spec.language,
    }
    assert "#       jupytext_version:" not in path.read_text().split("# ---", 2)[1]
    assert header["jupytext"]["text_representation"]["format_name"] == "percent"


def test_double_click_opens_python_files_as_notebooks():
    """The documented ``JUPYTER_CONFIG_PATH=.jupyter`` makes JupyterLab's settings server
    give .py files the Jupytext Notebook viewer by default (asked of jupyterlab_server in a
    fresh process run from chapters/, as ``jupyter lab`` would be); without it, the
    default stays the text editor. The browser test double-clicks for real."""
    pytest.importorskip("jupyterlab_server")
    chapters = CHAPTERS[0].parent
    probe = (
        "import json; from jupyterlab_server.settings_utils import _get_overrides; "
        "print(json.dumps(_get_overrides('')[0]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_CONFIG_PATH"}

    def overrides(extra):
        out = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=chapters,
            env={**env, **extra},
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout).get("@jupyterlab/docmanager-extension:plugin", {})

    with_config = overrides({"JUPYTER_CONFIG_PATH": ".jupyter"})
    assert with_config.get("defaultViewers", {}).get("python") == "Jupytext Notebook"
    assert overrides({}).get("defaultViewers", {}).get("python") != "Jupytext Notebook"
    readme = (chapters / "README.md").read_text()
    assert "cd chapters && JUPYTER_CONFIG_PATH=.jupyter jupyter lab" in readme
    assert Path(chapters / ".jupyter" / "labconfig" / "default_setting_overrides.json").is_file()
