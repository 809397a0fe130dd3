"""From a chapter to a lecture: what goes on a slide, what goes to the speaker's notes, and
where the instructor's answers come from.

A chapter is written for a student at a keyboard; a deck is shown in a lecture hall. So
``lecture_notebook`` rewrites a (usually executed) chapter notebook before reveal.js sees it:

* **No code by default.** A code cell's source is hidden on its slide; its figures, small
  tables and short printed lines stay. A cell tagged ``show-code`` (``SHOW_CODE``) is shown
  in full, source and output, for the few places where the code is the point.
* **Long outputs go to the speaker notes.** Printed text longer than ``MAX_TEXT_LINES``
  lines or wider than ``MAX_TEXT_COLUMNS`` characters, tables of more than
  ``MAX_TABLE_ROWS`` rows and long Markdown become a notes cell under the slide; progress
  bars and stderr are left out. Markdown cells of ``slide_type`` "notes" are notes too.
* **Nothing empty.** A cell left with nothing to show disappears; when it opened a slide,
  the next cell that shows something opens it instead.
* **A title slide** (``TITLE``) first: the chapter's heading, the paper, and the
  "**Covers**" paragraph of the chapter's first cell (the paper's sections, figures and
  tables it covers); the rest of that cell follows as its own slide.

Questions and answers. A chapter ends with a "Questions" section whose questions are
markdown cells tagged ``question`` that start with ``**Q1``, ``**Q2`` …. The answers are
not in the chapter (a student opening it never sees them): they live in
``chapters/answers/NN_name.py`` (``answers_path``), a jupytext file whose markdown cells
``### Answer to Qk`` open the answer to question k (the cells after it, code included,
belong to it). ``with_answers`` puts each answer right after its question (tagged
``answer``), for the instructor's notebook and deck (``learnres lectures answers``);
``without_answers`` takes them out again.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

__all__ = [
    "ANSWER",
    "MAX_MARKDOWN_CHARS",
    "MAX_TABLE_ROWS",
    "MAX_TEXT_BEFORE_FIGURE",
    "MAX_TEXT_COLUMNS",
    "MAX_TEXT_LINES",
    "QUESTION",
    "SHOW_CODE",
    "TITLE",
    "answers_path",
    "lecture_notebook",
    "questions",
    "read_answers",
    "title_parts",
    "with_answers",
    "without_answers",
]

SHOW_CODE = "show-code"
QUESTION = "question"
ANSWER = "answer"
TITLE = "title"

MAX_TEXT_LINES = 10
MAX_TEXT_COLUMNS = 100
MAX_TABLE_ROWS = 12
MAX_MARKDOWN_CHARS = 1400
MAX_TEXT_BEFORE_FIGURE = 700  # characters of markdown on a slide before a figure gets its own

PAPER = (
    "He, Zhang, Ren, Sun (2015), *Deep Residual Learning for Image Recognition*, arXiv:1512.03385"
)

_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_IMAGES = ("image/png", "image/jpeg", "image/svg+xml", "image/gif")
_QUESTION_RE = re.compile(r"^\s*\*\*Q(\d+)\b")
# what the training loop prints while it runs (learnres.train.Trainer): progress, not content
_PROGRESS_LINE = re.compile(r"^iteration \d+: (train|val|test) error .*$\n?", re.MULTILINE)
_ANSWER_RE = re.compile(r"^\s*#+\s*Answer to Q(\d+)\b")


def _tags(cell) -> list:
    return list(cell.get("metadata", {}).get("tags", []))


def _slide_type(cell) -> str:
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type") or "-"


def _set_slide_type(cell, slide_type: str) -> None:
    cell.metadata.setdefault("slideshow", {})["slide_type"] = slide_type


# ---- questions and answers ---------------------------------------------------------------


def questions(nb) -> list[tuple[int, int]]:
    """``[(k, cell index)]`` of the cells tagged ``question`` (k from their ``**Qk``)."""
    found = []
    for index, cell in enumerate(nb.cells):
        if QUESTION in _tags(cell):
            match = _QUESTION_RE.match(cell.source)
            if match is None:
                raise ValueError(
                    f"question cell {index} does not start with '**Q<k>': {cell.source[:60]!r}"
                )
            found.append((int(match.group(1)), index))
    return found


def answers_path(chapter: Path) -> Path:
    """Where the answers of ``chapters/NN_name.py`` live: ``chapters/answers/NN_name.py``."""
    chapter = Path(chapter)
    return chapter.parent / "answers" / chapter.name


def read_answers(chapter: Path) -> dict[int, list]:
    """``{k: [cells]}``: the answer to each question of ``chapter``, from its answers file
    (each answer opens with a markdown cell ``### Answer to Qk``). {} when there is none."""
    import jupytext

    path = answers_path(chapter)
    if not path.is_file():
        return {}
    answers: dict[int, list] = {}
    current = None
    for cell in jupytext.read(path).cells:
        match = _ANSWER_RE.match(cell.source) if cell.cell_type == "markdown" else None
        if match:
            current = int(match.group(1))
            if current in answers:
                raise ValueError(f"{path}: two answers to Q{current}")
            answers[current] = []
        elif current is None:
            if cell.source.strip():
                raise ValueError(
                    f"{path}: a cell before the first '### Answer to Qk': {cell.source[:60]!r}"
                )
            continue
        answers[current].append(cell)
    return answers


def with_answers(nb, answers: dict[int, list]):
    """A copy of ``nb`` with each answer after its question (the question's cell and the
    cells after it, up to the next question); every answer cell is tagged ``answer`` and
    each answer opens a new vertical slide. A question without an answer, or an answer
    without a question, raises ValueError."""
    nb = copy.deepcopy(nb)
    found = questions(nb)
    asked = [k for k, _ in found]
    if sorted(answers) != sorted(asked):
        raise ValueError(f"questions {asked} but answers to {sorted(answers)}")
    ends = [i for _, i in found[1:]] + [len(nb.cells)]
    for (k, _), end in sorted(zip(found, ends), key=lambda pair: -pair[1]):
        block = []
        for j, cell in enumerate(copy.deepcopy(answers[k])):
            cell.metadata["tags"] = _tags(cell) + [ANSWER]
            if j == 0:
                _set_slide_type(cell, "subslide")
            block.append(cell)
        nb.cells[end:end] = block
    return nb


def without_answers(nb):
    """A copy of ``nb`` without the cells tagged ``answer`` (what a student sees)."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if ANSWER not in _tags(c)]
    return nb


# ---- the title slide ----------------------------------------------------------------------


def title_parts(cell) -> tuple[str, str, str]:
    """``(heading, covers, rest)`` of a chapter's first (markdown) cell: its ``# `` heading,
    its paragraph that starts with ``**Covers**``, and everything else."""
    heading, covers, rest = "", "", []
    for paragraph in re.split(r"\n\s*\n", cell.source.strip()):
        if not heading and paragraph.startswith("# "):
            heading = paragraph[2:].strip()
        elif not covers and paragraph.startswith("**Covers"):
            covers = paragraph.strip()
        else:
            rest.append(paragraph)
    return heading, covers, "\n\n".join(rest)


def _title_cells(first):
    import nbformat

    heading, covers, rest = title_parts(first)
    if not heading:
        return [first]
    lines = [f"# {heading}", "", PAPER]
    if covers:
        lines += ["", covers]
    title = nbformat.v4.new_markdown_cell("\n".join(lines))
    title.metadata = {"slideshow": {"slide_type": "slide"}, "tags": [TITLE]}
    cells = [title]
    if rest.strip():
        intro = copy.deepcopy(first)
        if "id" in intro:
            intro["id"] = f"{intro['id'][:58]}-intro"
        intro.source = rest
        _set_slide_type(intro, "slide")
        cells.append(intro)
    return cells


# ---- outputs: slide, notes or nothing ------------------------------------------------------


def _widget_models(nb) -> dict:
    state = nb.metadata.get("widgets", {}).get(_WIDGET_STATE, {})
    return state.get("state", {}) if isinstance(state, dict) else {}


def _is_progress_bar(model_id: str, models: dict) -> bool:
    """A tqdm bar: a ProgressModel, or a box holding one."""
    model = models.get(model_id, {})
    name = model.get("model_name", "")
    if "Progress" in name:
        return True
    children = model.get("state", {}).get("children", [])
    return any(
        "Progress" in models.get(c.removeprefix("IPY_MODEL_"), {}).get("model_name", "")
        for c in children
        if isinstance(c, str)
    )


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _text_fits(text: str) -> bool:
    lines = text.rstrip("\n").split("\n")
    return len(lines) <= MAX_TEXT_LINES and max(len(line) for line in lines) <= MAX_TEXT_COLUMNS


def _table_rows(text: str) -> int:
    markdown_rows = sum(1 for line in text.splitlines() if line.lstrip().startswith("|"))
    html_rows = len(re.findall(r"<tr\b", text, flags=re.IGNORECASE))
    return max(markdown_rows - 2, html_rows - 1, 0)


def _markdown_fits(text: str) -> bool:
    return _table_rows(text) <= MAX_TABLE_ROWS and len(text) <= MAX_MARKDOWN_CHARS


def _notes_cell(parts: list[str]):
    import nbformat

    cell = nbformat.v4.new_markdown_cell("\n\n".join(parts))
    cell.metadata = {"slideshow": {"slide_type": "notes"}}
    return cell


def _route_outputs(cell, models: dict, show_all: bool) -> tuple[list, list[str]]:
    """``(outputs kept on the slide, notes in markdown)`` of a code cell."""
    kept, notes, printed = [], [], []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":
            if out.get("name") == "stdout":
                printed.append(_PROGRESS_LINE.sub("", _text(out.get("text", ""))))
            continue  # stderr: warnings and text progress bars
        if kind == "error":
            kept.append(out)
            continue
        data = out.get("data", {})
        if _WIDGET_VIEW in data:
            if not _is_progress_bar(data[_WIDGET_VIEW].get("model_id", ""), models):
                kept.append(out)
        elif any(k in data for k in _IMAGES):
            kept.append(out)
        elif "text/markdown" in data or "text/html" in data:
            key = "text/markdown" if "text/markdown" in data else "text/html"
            text = _text(data[key])
            if show_all or _markdown_fits(text):
                kept.append(out)
            else:
                notes.append(text)
        elif "text/plain" in data:
            printed.append(_text(data["text/plain"]) + "\n")
    text = "".join(printed)
    if text.strip():
        import nbformat

        if show_all or _text_fits(text):
            kept.insert(0, nbformat.v4.new_output("stream", name="stdout", text=text))
        else:
            notes.insert(
                0,
                "Printed by the cell (too long for the slide):\n\n```text\n"
                + text.rstrip("\n")
                + "\n```",
            )
    return kept, notes


def _weight(out) -> str:
    """What an output is for the layout: "figure" (an image, or a widget, which draws one),
    "heavy" text (a table of 4 rows or more, or text that fills a good part of a slide),
    "text" (other markdown or HTML) or "light" (a few printed lines)."""
    data = out.get("data", {})
    if any(k in data for k in _IMAGES) or _WIDGET_VIEW in data:
        return "figure"
    if out.get("output_type") == "stream":
        text = _text(out.get("text", ""))
        return "heavy" if len(text) > 400 or text.count("\n") > 6 else "light"
    text = _text(data.get("text/markdown", data.get("text/html", data.get("text/plain", ""))))
    if "text/markdown" not in data and "text/html" not in data:
        return "heavy" if len(text) > 400 or text.count("\n") > 6 else "light"
    return "heavy" if len(text) > 400 or _table_rows(text) >= 4 else "text"


def _characters(out) -> int:
    """How much text an output puts on a slide (0 for figures and widgets)."""
    if _weight(out) == "figure":
        return 0
    if out.get("output_type") == "stream":
        return len(_text(out.get("text", "")))
    data = out.get("data", {})
    return len(_text(data.get("text/markdown", data.get("text/html", data.get("text/plain", "")))))


def _split_at_figures(cell) -> list:
    """The cell, or the cell and continuation cells (new vertical slides, source hidden):
    a figure never shares a slide with another figure, with a lot of text before it, or
    with the tables and paragraphs after it; two long paragraphs or tables get a slide each,
    and so does text beyond ``MAX_MARKDOWN_CHARS`` characters on one slide."""
    pieces, current, kinds, chars = [], [], set(), 0
    for out in cell.get("outputs", []):
        weight, n = _weight(out), _characters(out)
        new = current and (
            (weight == "figure" and kinds & {"figure", "heavy"})
            or (weight in ("text", "heavy") and "figure" in kinds)
            or (weight == "heavy" and "heavy" in kinds)
            or (weight in ("text", "heavy") and chars + n > MAX_MARKDOWN_CHARS)
        )
        if new:
            pieces.append(current)
            current, kinds, chars = [], set(), 0
        current.append(out)
        kinds.add(weight)
        chars += n
    pieces.append(current)
    if len(pieces) == 1:
        return [cell]
    cells = []
    for k, outputs in enumerate(pieces):
        piece = copy.deepcopy(cell) if k else cell
        piece.outputs = outputs
        if k:
            if "id" in piece:
                piece["id"] = f"{piece['id'][:58]}-part{k}"
            piece.metadata.setdefault("transient", {})["remove_source"] = True
            _set_slide_type(piece, "subslide")
        cells.append(piece)
    return cells


def _visible(cell) -> bool:
    if _slide_type(cell) in ("skip", "notes"):
        return False
    if cell.cell_type == "markdown":
        return bool(cell.source.strip())
    shows_source = not cell.metadata.get("transient", {}).get("remove_source", False)
    return bool(cell.get("outputs")) or (shows_source and bool(cell.source.strip()))


_RANK = {"-": 0, "fragment": 1, "subslide": 2, "slide": 3}


def lecture_notebook(nb):
    """A copy of ``nb`` (a chapter, executed or not) laid out for a lecture: see the module
    docstring. The input is not changed."""
    nb = copy.deepcopy(nb)
    models = _widget_models(nb)
    cells = list(nb.cells)
    if cells and cells[0].cell_type == "markdown":
        cells = _title_cells(cells[0]) + cells[1:]
    prepared = []
    for cell in cells:
        if _slide_type(cell) == "skip":
            continue
        if cell.cell_type != "code":
            prepared.append((cell, []))
            continue
        show = SHOW_CODE in _tags(cell)
        if not show:
            cell.metadata.setdefault("transient", {})["remove_source"] = True
        cell.outputs, texts = _route_outputs(cell, models, show)
        pieces = _split_at_figures(cell)
        prepared += [(piece, []) for piece in pieces[:-1]]
        prepared.append((pieces[-1], [_notes_cell(texts)] if texts else []))
    laid_out, pending_start, pending_notes, figures = [], None, [], 0
    for cell, notes in prepared:
        if _slide_type(cell) == "notes":
            (laid_out if pending_start is None else pending_notes).append(cell)
            continue
        if not _visible(cell):
            own = _slide_type(cell)
            if own in ("slide", "subslide") and _RANK[own] > _RANK.get(pending_start or "-", 0):
                pending_start = own
            (laid_out if pending_start is None else pending_notes).extend(notes)
            continue
        if pending_start is not None:
            if _RANK[pending_start] > _RANK[_slide_type(cell)]:
                _set_slide_type(cell, pending_start)
            pending_start = None
        weights = [_weight(o) for o in cell.get("outputs", [])] if cell.cell_type == "code" else []
        if _slide_type(cell) in ("slide", "subslide"):
            figures, text = 0, 0
        elif weights[:1] == ["figure"] and (figures or text > MAX_TEXT_BEFORE_FIGURE):
            _set_slide_type(cell, "subslide")  # after another figure or a long text: its own
            figures, text = 0, 0
        figures += weights.count("figure")
        text += len(cell.source) if cell.cell_type == "markdown" else 0
        laid_out.append(cell)
        laid_out += pending_notes + notes
        pending_notes = []
    laid_out += pending_notes
    nb.cells = laid_out
    return nb
