"""learnres.lectures.deck: from a chapter notebook to a lecture deck (what a slide shows,
what goes to the speaker notes), the chapters' questions and the instructor's answers."""

from __future__ import annotations

import re

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the notebooks extra")

from learnres.lectures.build import chapter_paths, read_chapter  # noqa: E402
from learnres.lectures.deck import (  # noqa: E402
    ANSWER,
    MAX_MARKDOWN_CHARS,
    MAX_TEXT_LINES,
    QUESTION,
    SHOW_CODE,
    TITLE,
    answers_path,
    lecture_notebook,
    questions,
    read_answers,
    title_parts,
    with_answers,
    without_answers,
)
from learnres.lectures.derivations import check_derivation  # noqa: E402

md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
stream = nbformat.v4.new_output


def _slide(kind):
    return {"slideshow": {"slide_type": kind}}


def _notebook(cells, widgets=None):
    nb = nbformat.v4.new_notebook(cells=cells)
    if widgets:
        nb.metadata["widgets"] = {
            "application/vnd.jupyter.widget-state+json": {
                "state": widgets,
                "version_major": 2,
                "version_minor": 0,
            }
        }
    return nb


def _shown_source(cell) -> bool:
    return not cell.metadata.get("transient", {}).get("remove_source", False)


def test_code_is_hidden_unless_tagged_and_long_output_goes_to_the_notes():
    long_text = "\n".join(f"line {i}" for i in range(MAX_TEXT_LINES + 5)) + "\n"
    cells = [
        md(
            "# Chapter 9 — A test\n\n**Covers** §1 and Fig. 1.\n\nThe intro.",
            metadata=_slide("slide"),
        ),
        md("## A slide", metadata=_slide("slide")),
        code("print('short')", outputs=[stream("stream", name="stdout", text="short\n")]),
        code(
            "print(src)",
            metadata={"tags": [SHOW_CODE]},
            outputs=[stream("stream", name="stdout", text=long_text)],
        ),
        code("print(table)", outputs=[stream("stream", name="stdout", text=long_text)]),
        code("warn()", outputs=[stream("stream", name="stderr", text="a warning\n")]),
    ]
    nb = lecture_notebook(_notebook(cells))
    title, intro, heading, short, shown, notes = nb.cells  # "print(table)" left nothing
    assert TITLE in title.metadata["tags"] and title.source.startswith("# Chapter 9 — A test")
    assert "He, Zhang, Ren, Sun" in title.source and "**Covers** §1 and Fig. 1." in title.source
    assert intro.source == "The intro." and intro.metadata["slideshow"]["slide_type"] == "slide"
    assert not _shown_source(short) and short.outputs[0]["text"] == "short\n"
    assert _shown_source(shown) and shown.outputs[0]["text"] == long_text  # tagged: in full
    assert notes.metadata["slideshow"]["slide_type"] == "notes" and "line 14" in notes.source
    assert "warning" not in str(nb.cells)  # stderr is left out
    assert all(len(c.source) for c in cells)  # the input notebook is unchanged


def test_an_emptied_cell_hands_its_slide_start_to_the_next_visible_cell():
    cells = [
        md("# Chapter 9 — A test", metadata=_slide("slide")),
        code("x = setup()", metadata=_slide("subslide"), outputs=[]),  # nothing to show
        md("A fragment", metadata=_slide("fragment")),
        code(
            "plt.show()",
            metadata=_slide("skip"),
            outputs=[stream("display_data", data={"image/png": "iVBOR"})],
        ),
    ]
    nb = lecture_notebook(_notebook(cells))
    assert len(nb.cells) == 2 and TITLE in nb.cells[0].metadata["tags"]
    assert nb.cells[1].source == "A fragment"
    assert nb.cells[1].metadata["slideshow"]["slide_type"] == "subslide"


def test_progress_bars_and_training_logs_stay_off_the_slides():
    widgets = {
        "bar": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_p", "IPY_MODEL_t"]}},
        "p": {"model_name": "FloatProgressModel", "state": {}},
        "t": {"model_name": "HTMLModel", "state": {}},
        "slider": {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_s"]}},
        "s": {"model_name": "FloatSliderModel", "state": {}},
    }
    view = "application/vnd.jupyter.widget-view+json"
    cells = [
        md("# Chapter 9 — A test", metadata=_slide("slide")),
        code(
            "train()",
            outputs=[
                stream("display_data", data={view: {"model_id": "bar"}}),
                stream("stream", name="stdout", text="iteration 6: test error 86.00%\nfinal 12%\n"),
                stream("display_data", data={view: {"model_id": "slider"}}),
            ],
        ),
    ]
    (_, cell) = lecture_notebook(_notebook(cells, widgets)).cells
    assert [o.get("text") for o in cell.outputs if o["output_type"] == "stream"] == ["final 12%\n"]
    assert [o["data"][view]["model_id"] for o in cell.outputs if "data" in o] == ["slider"]


def test_figures_get_slides_of_their_own_when_a_cell_draws_several():
    png = {"image/png": "iVBOR"}
    cells = [
        md("# Chapter 9 — A test", metadata=_slide("slide")),
        code(
            "for k in kinds: plot(k)",
            metadata=_slide("fragment"),
            outputs=[
                stream("stream", name="stdout", text="two runs\n"),
                stream("display_data", data=png),
                stream("display_data", data=png),
            ],
        ),
    ]
    nb = lecture_notebook(_notebook(cells))
    first, second = nb.cells[1:]
    assert len(first.outputs) == 2 and len(second.outputs) == 1
    assert second.metadata["slideshow"]["slide_type"] == "subslide" and not _shown_source(second)
    assert first.get("id") != second.get("id")


def test_text_beyond_one_slide_continues_on_the_next():
    """Paragraphs that are short one by one but long together (a table, the paragraph
    under it, a note) go on as many slides as they need, in order."""
    paragraphs = [
        ("| a | b |\n|---|---|\n| 1 | 2 |\n" + "x" * 300),
        "y" * 700,
        "z" * 100,
        "w" * 350,
    ]
    cells = [
        md("# Chapter 9 — A test", metadata=_slide("slide")),
        code(
            "show_table()",
            metadata=_slide("fragment"),
            outputs=[stream("display_data", data={"text/markdown": p}) for p in paragraphs],
        ),
    ]
    nb = lecture_notebook(_notebook(cells))
    slides = [[o["data"]["text/markdown"] for o in c.outputs] for c in nb.cells[1:]]
    assert slides == [paragraphs[:3], paragraphs[3:]]
    assert sum(map(len, paragraphs[:3])) <= MAX_MARKDOWN_CHARS < sum(map(len, paragraphs))
    assert nb.cells[2].metadata["slideshow"]["slide_type"] == "subslide"


def _qa_notebook():
    cells = [
        md("# Chapter 9 — A test", metadata=_slide("slide")),
        md("## Questions"),
        md("**Q1 (predict).** One?", metadata={"tags": [QUESTION]}),
        code("attempt_1 = None"),
        md("**Q2 (derive).** Two?", metadata={"tags": [QUESTION]}),
    ]
    return _notebook(cells)


def test_answers_go_after_their_questions_and_come_out_again():
    answers = {
        1: [md("### Answer to Q1\n\nOne."), code("assert 1")],
        2: [md("### Answer to Q2\n\nTwo.")],
    }
    nb = with_answers(_qa_notebook(), answers)
    sources = [c.source for c in nb.cells]
    assert sources[2:] == [
        "**Q1 (predict).** One?",
        "attempt_1 = None",
        "### Answer to Q1\n\nOne.",
        "assert 1",
        "**Q2 (derive).** Two?",
        "### Answer to Q2\n\nTwo.",
    ]
    tagged = [c for c in nb.cells if ANSWER in c.metadata.get("tags", [])]
    assert len(tagged) == 3 and tagged[0].metadata["slideshow"]["slide_type"] == "subslide"
    assert [c.source for c in without_answers(nb).cells] == [c.source for c in _qa_notebook().cells]
    with pytest.raises(ValueError, match=r"questions \[1, 2\] but answers to \[1\]"):
        with_answers(_qa_notebook(), {1: answers[1]})


CHAPTERS = chapter_paths()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_ends_with_questions_whose_answers_stay_out_of_it(path):
    nb = read_chapter(path)
    asked = questions(nb)
    assert 4 <= len(asked) <= 6, f"{path.name}: {len(asked)} questions"
    assert [k for k, _ in asked] == list(range(1, len(asked) + 1))
    start = max(
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "markdown" and c.source.startswith("## Questions")
    )
    assert start < asked[0][1] and all(
        c.metadata.get("slideshow", {}).get("slide_type")
        in ("subslide", "skip", "fragment", "-", None)
        for c in nb.cells[start + 1 :]
    )
    assert nb.cells[start].metadata["slideshow"]["slide_type"] == "slide"
    section = "\n".join(c.source for c in nb.cells[start:])
    named = re.findall(r"exercises/(ex\d+_\w+\.py)", section)
    assert named, f"{path.name}: the Questions section names no graded exercise"
    for name in named:
        assert (path.parents[1] / "exercises" / name).is_file(), name
    kinds = " ".join(c.source.split(")**")[0] for _, i in asked for c in [nb.cells[i]])
    assert "predict" in kinds or "number" in kinds
    assert "derive" in kinds and "experiment" in kinds
    answers = read_answers(path)
    assert answers_path(path).is_file() and sorted(answers) == [k for k, _ in asked]
    assert all(a for a in answers.values())
    assert "Answer to Q" not in "\n".join(c.source for c in nb.cells)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_opens_with_a_title_and_what_it_covers(path):
    heading, covers, rest = title_parts(read_chapter(path).cells[0])
    assert re.fullmatch(r"Chapter \d — .+", heading), heading
    assert covers.startswith("**Covers**") and re.search(r"§\d", covers), covers
    assert rest.strip()


@pytest.mark.parametrize("stem", ["02_conv_batchnorm", "05_bottlenecks"])
def test_derive_before_the_reveal(stem):
    """The chapter poses the derivation, ships an untouched stub and a check, and only then
    shows the worked result."""
    (path,) = chapter_paths([stem])
    cells = read_chapter(path).cells
    text = [c.source for c in cells]
    stub = next(i for i, s in enumerate(text) if "_yours(" in s and "return None" in s)
    check = next(i for i, s in enumerate(text) if "check_derivation(" in s and "_yours" in s)
    worked = next(
        i
        for i, s in enumerate(text)
        if i > check
        and cells[i].cell_type == "markdown"
        and s.startswith("###")
        and ("derived" in s or "worked" in s)
    )
    assert stub < check < worked
    assert SHOW_CODE in cells[stub].metadata.get("tags", [])


def test_check_derivation_tells_untouched_right_and_wrong_apart():
    import numpy as np

    cases = [(np.arange(6.0).reshape(2, 3),), (np.ones(4),)]
    reference = lambda a: 2 * a  # noqa: E731
    assert check_derivation(lambda a: None, reference, cases).status == "not attempted"
    assert (
        check_derivation(
            lambda a: (_ for _ in ()).throw(NotImplementedError()), reference, cases
        ).status
        == "not attempted"
    )
    assert check_derivation(lambda a: 2 * a, reference, cases)
    wrong = check_derivation(lambda a: 2 * a + (a == 5), reference, cases)
    assert wrong.status == "wrong" and "index (1, 2)" in wrong.message
    assert "yours 11" in wrong.message
    assert check_derivation(lambda a: a[:1], reference, cases).status == "wrong"  # shape
    assert "raised ZeroDivisionError" in check_derivation(lambda a: 1 / 0, reference, cases).message
    with pytest.raises(ValueError, match="at least one case"):
        check_derivation(reference, reference, [])
