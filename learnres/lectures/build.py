"""Building the chapters: notebooks (jupytext), executed notebooks (nbclient), HTML pages
and reveal.js slide decks (nbconvert) that work offline.

The chapters are jupytext percent-format sources, ``chapters/NN_name.py``. From them:

* ``build_notebooks``: ``.ipynb`` files (optionally executed, in quick or full mode);
* ``execute_chapter``: one chapter run top to bottom by a fresh kernel (what CI does);
* ``build_slides``: one reveal.js deck per chapter, ``<out>/NN_name.slides.html``, laid out
  for a lecture hall by ``learnres.lectures.deck`` (run in quick mode first by default);
* ``build_answers``: the instructor's build, each chapter run with the answers to its
  questions (``chapters/answers/NN_name.py``), as a notebook and a deck;
* ``build_html``: one HTML page per chapter (widgets rendered from their saved state).

Offline. nbconvert's templates load reveal.js, require.js, jQuery, MathJax (and the
widget renderer, and mermaid) from CDNs. Here every asset is installed once from npm
(``ASSET_PACKAGES``, pinned) into ``chapters/_build/npm`` and copied into ``<out>/assets``;
the pages point at those copies with relative URLs, and two small templates
(``learnres_reveal``, ``learnres_lab``: package data in ``learnres/lectures/templates/``,
listed in ``TEMPLATES``) replace the CDN-only parts: MathJax 3 (SVG output, so no web
fonts) instead of MathJax 2 from cdnjs, no mermaid, and a reveal.js start-up that re-lays
out the deck once MathJax has typeset. The output folder is self-contained: copy it
anywhere, open a deck from disk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from learnres.lectures.config import QUICK_ENV, chapters_dir

__all__ = [
    "ASSET_PACKAGES",
    "ChapterRun",
    "build_dir",
    "DECK_SIZE",
    "build_answers",
    "build_html",
    "build_notebooks",
    "chapter_notebook",
    "export_page",
    "build_slides",
    "chapter_paths",
    "execute_chapter",
    "install_assets",
    "TEMPLATES",
    "template_file",
    "read_chapter",
]

# npm packages served beside the decks (exact versions: a deck built today looks the same
# next year). reveal.js 4 is what nbconvert's reveal template is written for.
ASSET_PACKAGES = {
    "reveal.js": "4.6.1",
    "mathjax": "3.2.2",
    "requirejs": "2.3.7",
    "jquery": "3.7.1",
    "@jupyter-widgets/html-manager": "1.0.15",
}

# package -> [(path inside the package, path inside <out>/assets)]
_ASSET_FILES = {
    "reveal.js": [("dist", "reveal.js/dist"), ("plugin/notes", "reveal.js/plugin/notes")],
    "mathjax": [
        ("es5/tex-svg-full.js", "mathjax/tex-svg-full.js"),
        ("es5/input", "mathjax/input"),
        ("es5/output/svg.js", "mathjax/output/svg.js"),
        ("es5/ui", "mathjax/ui"),
        ("es5/a11y", "mathjax/a11y"),
    ],
    "requirejs": [("require.js", "require.js")],
    "jquery": [("dist/jquery.min.js", "jquery.min.js")],
    "@jupyter-widgets/html-manager": [("dist", "html-manager")],  # minus *.map, embed.js
}

# URLs relative to the HTML file (which sits in <out>, beside assets/)
_URLS = {
    "reveal_url_prefix": "assets/reveal.js",
    "require_js_url": "assets/require.js",
    "jquery_url": "assets/jquery.min.js",
    "mathjax_url": "assets/mathjax/tex-svg-full.js",
    "widget_renderer_url": "assets/html-manager/embed-amd.js",
}

# The templates, package data under learnres/lectures/templates/ (pyproject.toml's
# [tool.setuptools.package-data]): nbconvert's reveal and lab templates with local assets
# only. learnres_mathjax.html.j2 is shared by both; lecture.css and fit.js are the deck's
# look and its figure fitting (see learnres_reveal/index.html.j2).
TEMPLATES = (
    "learnres_mathjax.html.j2",
    "learnres_reveal/conf.json",
    "learnres_reveal/index.html.j2",
    "learnres_reveal/lecture.css",
    "learnres_reveal/fit.js",
    "learnres_lab/conf.json",
    "learnres_lab/index.html.j2",
)

# The deck's size: reveal.js lays every slide out at this size and scales it to the screen.
DECK_SIZE = (1280, 720)


def build_dir() -> Path:
    """``chapters/_build``: everything built from the chapters (not kept in git)."""
    return chapters_dir() / "_build"


def chapter_paths(names=None, root: Path | None = None) -> list[Path]:
    """The chapter sources ``NN_*.py`` in ``root`` (default ``chapters/``), in order.

    ``names``: pick chapters by number ("1", "01"), stem ("01_autograd") or a part of the
    stem ("autograd"); None: all.
    """
    root = Path(root) if root is not None else chapters_dir()
    paths = sorted(p for p in root.glob("[0-9][0-9]_*.py"))
    if not names:
        return paths
    picked = []
    for name in names:
        name = str(name)
        hits = [
            p
            for p in paths
            if p.stem == name or p.stem.split("_")[0] == name.zfill(2) or name in p.stem
        ]
        if not hits:
            raise ValueError(
                f"no chapter matches {name!r}; chapters: {', '.join(p.stem for p in paths)}"
            )
        picked += [p for p in hits if p not in picked]
    return picked


def read_chapter(path: Path):
    """The chapter source at ``path`` as an nbformat notebook (through jupytext)."""
    import jupytext

    nb = jupytext.read(path)
    nb.metadata.setdefault(
        "kernelspec", {"name": "python3", "display_name": "Python 3", "language": "python"}
    )
    nb.metadata["kernelspec"].setdefault("name", "python3")
    return nb


@contextlib.contextmanager
def _environment(**values):
    """Set environment variables (None removes) for the block; the kernel inherits them."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = str(v)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class ChapterRun:
    """One executed chapter: its notebook (with outputs) and how long it took."""

    path: Path
    notebook: object
    seconds: float
    quick: bool


def execute_chapter(
    path: Path,
    *,
    quick: bool = True,
    timeout: int = 600,
    cwd: Path | None = None,
    env: dict | None = None,
    notebook=None,
) -> ChapterRun:
    """Run the chapter at ``path`` top to bottom in a fresh kernel; a failing cell raises
    ``nbclient.exceptions.CellExecutionError`` naming the cell and the error.

    Arguments:
        quick: set ``LEARNRES_QUICK=1`` for the kernel (else unset it: full mode).
        timeout: seconds allowed per cell.
        cwd: the kernel's working directory (default: the chapter's folder).
        env: more environment variables for the kernel.
        notebook: run this notebook instead of the chapter's source (e.g. the chapter with
            its answers, ``deck.with_answers``); it is executed in place.
    """
    from nbclient import NotebookClient

    from learnres.lectures.kernel import PollingKernelManager

    nb = notebook if notebook is not None else read_chapter(path)
    cwd = Path(cwd) if cwd is not None else Path(path).parent
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=nb.metadata["kernelspec"]["name"],
        kernel_manager_class=PollingKernelManager,  # notices a cell's reply within a second
        resources={"metadata": {"path": str(cwd)}},
        store_widget_state=True,
    )
    values = {
        QUICK_ENV: "1" if quick else None,
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        **(env or {}),
    }
    tic = time.perf_counter()
    with _environment(**values):
        client.execute()
    return ChapterRun(Path(path), nb, time.perf_counter() - tic, quick)


def build_notebooks(
    out: Path | None = None,
    names=None,
    *,
    execute: bool = False,
    quick: bool = True,
    timeout: int = 600,
    log=print,
) -> list[Path]:
    """Write ``<out>/NN_name.ipynb`` for each chapter (default out: ``chapters/_build/notebooks``).

    With ``execute`` the notebooks are run first (in quick mode unless ``quick=False``) and
    saved with their outputs and widget state; the time of each is logged.
    """
    import nbformat

    out = Path(out) if out is not None else build_dir() / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in chapter_paths(names):
        if execute:
            run = execute_chapter(path, quick=quick, timeout=timeout)
            nb = run.notebook
            log(
                f"executed {path.name} ({'quick' if quick else 'full'} mode) in {run.seconds:.1f} s"
            )
        else:
            nb = read_chapter(path)
        target = out / f"{path.stem}.ipynb"
        nbformat.write(nb, target)
        written.append(target)
        log(f"wrote {target}")
    return written


# ---- assets ------------------------------------------------------------------------------


def _npm_dir() -> Path:
    return build_dir() / "npm"


def install_assets(out: Path, npm_dir: Path | None = None, log=print) -> Path:
    """Copy the pinned npm assets into ``<out>/assets`` (running ``npm install`` into
    ``npm_dir``, default ``chapters/_build/npm``, the first time); returns the assets folder.

    Raises RuntimeError with instructions when npm is needed but missing or fails.
    """
    npm_dir = Path(npm_dir) if npm_dir is not None else _npm_dir()
    modules = npm_dir / "node_modules"
    if not all((modules / name / "package.json").is_file() for name in ASSET_PACKAGES):
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "the slides need local copies of reveal.js, MathJax, require.js, jQuery and the "
                "widget renderer, installed with npm, which is not on PATH: install Node.js "
                "(Debian: apt-get install -y npm), or put an installed node_modules folder at "
                f"{modules}"
            )
        npm_dir.mkdir(parents=True, exist_ok=True)
        (npm_dir / "package.json").write_text(
            '{"private": true, "name": "learnres-slide-assets"}\n'
        )
        specs = [f"{name}@{version}" for name, version in ASSET_PACKAGES.items()]
        log(f"npm install {' '.join(specs)} (into {npm_dir})")
        command = [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", *specs]
        done = subprocess.run(command, cwd=npm_dir, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"npm install failed ({done.returncode}):\n{done.stderr[-2000:]}")
    assets = Path(out) / "assets"
    for name, files in _ASSET_FILES.items():
        for source, target in files:
            src, dst = modules / name / source, assets / target
            if not src.exists():
                raise RuntimeError(f"{src} is missing from the npm package {name}")
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, dirs_exist_ok=True, ignore=_unused_assets)
            else:
                shutil.copy2(src, dst)
    return assets


def _unused_assets(folder, names) -> list[str]:
    """Files of the copied packages that no page loads (source maps, the non-AMD bundles)."""
    unused = {"embed.js", "libembed-amd.js", "embed.js.LICENSE.txt"}
    return [n for n in names if n.endswith(".map") or n in unused]


def template_file(name: str):
    """``learnres/lectures/templates/<name>`` (one of ``TEMPLATES``, or the browser's slide
    check), as package data: an ``importlib.resources`` Traversable. Raises
    FileNotFoundError naming the file when the installed package lacks it."""
    path = resources.files("learnres.lectures").joinpath("templates", *name.split("/"))
    if not path.is_file():
        raise FileNotFoundError(
            f"the lecture template {name!r} is missing from the learnres package (expected at "
            f"{path}); it ships as package data (pyproject.toml, "
            "[tool.setuptools.package-data]): reinstall learnres"
        )
    return path


def _template_dir(root: Path) -> Path:
    """Copy ``TEMPLATES`` under ``root`` (the folder nbconvert searches); return it."""
    root = Path(root)
    for name in TEMPLATES:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(template_file(name).read_bytes())
    return root


def _exporter(kind: str, template_root: Path):
    from nbconvert import HTMLExporter, SlidesExporter
    from traitlets.config import Config

    config = Config()
    cls, name = (
        (SlidesExporter, "learnres_reveal") if kind == "slides" else (HTMLExporter, "learnres_lab")
    )
    section = config[cls.__name__]
    for key, url in _URLS.items():
        if key == "reveal_url_prefix" and cls is not SlidesExporter:
            continue
        section[key] = url
    section.template_name = name
    section.extra_template_basedirs = [str(template_root)]
    section.extra_template_paths = [str(template_root)]  # for learnres_mathjax.html.j2
    if cls is SlidesExporter:
        section.reveal_theme = "white"
        section.reveal_scroll = False  # a slide that needs scrolling is a slide that overflows
        section.reveal_transition = "none"
        section.reveal_number = "c/t"
        section.reveal_width, section.reveal_height = (str(v) for v in DECK_SIZE)
        section.exclude_input_prompt = True
        section.exclude_output_prompt = True
    return cls(config=config)


def _read_executed(executed_dir, name: str):
    if executed_dir is None:
        return None
    import nbformat

    candidate = Path(executed_dir) / f"{name}.ipynb"
    return nbformat.read(candidate, as_version=4) if candidate.is_file() else None


def chapter_notebook(
    path: Path,
    *,
    answers: bool = False,
    execute: bool = False,
    quick: bool = True,
    timeout: int = 600,
    executed_dir=None,
):
    """The notebook of the chapter at ``path``: from ``executed_dir/NN_name.ipynb`` when
    there is one (``NN_name.answers.ipynb`` with ``answers``), else run now with
    ``execute``, else the source without outputs. With ``answers`` the instructor's
    answers (``chapters/answers/NN_name.py``) sit after their questions, else none do."""
    from learnres.lectures.deck import read_answers, with_answers, without_answers

    stored = _read_executed(executed_dir, f"{path.stem}.answers" if answers else path.stem)
    if stored is not None:
        return stored if answers else without_answers(stored)
    nb = read_chapter(path)
    if answers:
        nb = with_answers(nb, read_answers(path))
    if execute:
        nb = execute_chapter(path, quick=quick, timeout=timeout, notebook=nb).notebook
    return nb


def export_page(nb, kind: str, target: Path, template_root: Path, name: str) -> Path:
    """Write ``nb`` as a deck (``kind="slides"``, laid out by ``deck.lecture_notebook``) or
    as a page (``kind="html"``) to ``target``; the assets must already sit beside it."""
    from learnres.lectures.deck import lecture_notebook

    if kind == "slides":
        nb = lecture_notebook(nb)
    exporter = _exporter(kind, template_root)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": name}})
    target.write_text(body, encoding="utf-8")
    return target


def _export(
    kind: str,
    out: Path | None,
    names,
    execute: bool,
    quick: bool,
    timeout: int,
    executed_dir,
    log,
    answers: bool = False,
) -> list[Path]:
    default = "answers" if answers else ("slides" if kind == "slides" else "html")
    out = Path(out) if out is not None else build_dir() / default
    out.mkdir(parents=True, exist_ok=True)
    install_assets(out, log=log)
    written = []
    suffix = (".answers" if answers else "") + (".slides.html" if kind == "slides" else ".html")
    with tempfile.TemporaryDirectory(prefix="learnres-templates-") as templates:
        root = _template_dir(Path(templates))
        for path in chapter_paths(names):
            nb = chapter_notebook(
                path,
                answers=answers,
                execute=execute,
                quick=quick,
                timeout=timeout,
                executed_dir=executed_dir,
            )
            if answers:
                import nbformat

                nbformat.write(nb, out / f"{path.stem}.answers.ipynb")
                written.append(out / f"{path.stem}.answers.ipynb")
                log(f"wrote {written[-1]}")
            target = export_page(nb, kind, out / f"{path.stem}{suffix}", root, path.stem)
            written.append(target)
            log(f"wrote {target}")
    _write_index(out, [p for p in written if p.suffix == ".html"], kind)
    return written


def build_slides(
    out: Path | None = None,
    names=None,
    *,
    execute: bool = True,
    quick: bool = True,
    timeout: int = 600,
    executed_dir: Path | None = None,
    log=print,
) -> list[Path]:
    """One reveal.js deck per chapter in ``out`` (default ``chapters/_build/slides``), with
    the assets beside them: open ``<out>/NN_name.slides.html`` from disk, no network needed.

    The deck a lecturer uses: a title slide, prose, equations, figures and small tables;
    code only in cells tagged ``show-code``; long outputs in the speaker notes (press S);
    the chapter's questions last, without their answers (see ``deck.lecture_notebook``).
    Cells become slides by their ``slideshow`` metadata (slide / subslide / fragment /
    notes / skip). The outputs are those of ``executed_dir/NN_name.ipynb`` when it exists
    (see ``build_notebooks(execute=True)``), else of a fresh run (quick mode unless
    ``quick=False``), else, with ``execute=False``, none (prose and equations only).
    """
    return _export("slides", out, names, execute, quick, timeout, executed_dir, log)


def build_answers(
    out: Path | None = None,
    names=None,
    *,
    execute: bool = True,
    quick: bool = True,
    timeout: int = 600,
    executed_dir: Path | None = None,
    log=print,
) -> list[Path]:
    """The instructor's build (default into ``chapters/_build/answers``): for each chapter,
    ``NN_name.answers.ipynb`` (the chapter with every answer after its question, run in
    quick mode unless ``quick=False``, or taken from ``executed_dir/NN_name.answers.ipynb``)
    and its deck ``NN_name.answers.slides.html``. Students' builds never contain them."""
    return _export("slides", out, names, execute, quick, timeout, executed_dir, log, answers=True)


def build_html(
    out: Path | None = None,
    names=None,
    *,
    execute: bool = False,
    quick: bool = True,
    timeout: int = 600,
    executed_dir: Path | None = None,
    log=print,
) -> list[Path]:
    """One HTML page per chapter (JupyterLab's look, widgets drawn from their saved state)
    in ``out`` (default ``chapters/_build/html``), offline like ``build_slides``."""
    return _export("html", out, names, execute, quick, timeout, executed_dir, log)


def _write_index(out: Path, pages: list[Path], kind: str) -> None:
    import html

    names = {
        p: p.name.removesuffix(".html").replace(".slides", "")
        for p in sorted(out.glob("[0-9][0-9]_*.html"))
    }
    items = "\n".join(f'<li><a href="{p.name}">{html.escape(n)}</a></li>' for p, n in names.items())
    title = "learnres lectures" if kind == "slides" else "learnres chapters"
    (out / "index.html").write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><h1>{title}</h1><ul>\n{items}\n</ul></body></html>\n",
        encoding="utf-8",
    )
