"""The grading plugin end to end: small generated test files run by pytest's ``pytester``.

The plugin is a ``pytest11`` entry point, so every inner run loads it by itself. Each test
asserts exact totals, so a wrong scoring rule makes it fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in-process on the generated files, without cache files.

    In-process runs re-import plugins that are already imported, which makes pytest warn that
    it cannot rewrite their asserts; that warning is noise here.
    """
    quiet = ("-W", "ignore::pytest.PytestAssertRewriteWarning")
    return pytester.runpytest("-p", "no:cacheprovider", *quiet, *args)


def score_section(result: pytest.RunResult) -> list[str]:
    """The lines of the ``learnres score`` section (empty when it was not printed)."""
    lines = result.stdout.lines
    starts = [i for i, line in enumerate(lines) if "learnres score" in line and "===" in line]
    if not starts:
        return []
    section = []
    for line in lines[starts[0] + 1 :]:
        if line.startswith("==="):
            break
        section.append(line)
    return section


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_plugin_is_loaded_through_its_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--gradescope-json=PATH*"])
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.points(n)*"])


def test_passing_and_failing_tests_give_exact_totals(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ex1_autograd="""
        import pytest

        @pytest.mark.points(2)
        def test_right():
            assert 1 + 1 == 2

        @pytest.mark.points(3)
        def test_wrong():
            assert 1 + 1 == 3

        @pytest.mark.points(5)
        def test_also_right():
            pass

        def test_not_graded():
            assert False
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2, failed=2)
    section = score_section(result)
    assert section[0].split() == ["exercise", "tests", "points"]
    assert section[1].split() == ["ex1_autograd", "2/3", "7/10"]
    assert section[-1] == "Total: 7/10 points"
    assert len(section) == 3


def test_exercise_attribute_names_the_group(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ex1_autograd="""
        import pytest
        EXERCISE = "1. Autograd"

        @pytest.mark.points(2)
        def test_a():
            pass
        """,
        test_ex2_layers="""
        import pytest

        @pytest.mark.points(4)
        def test_b():
            assert False
        """,
    )
    section = score_section(run(pytester))
    assert [line.rsplit(maxsplit=2) for line in section[1:3]] == [
        ["1. Autograd", "1/1", "2/2"],
        ["ex2_layers", "0/1", "0/4"],
    ]
    # The columns line up: "tests" starts at the same place in every row.
    assert len({line.index("/") for line in section[1:3]}) == 1
    assert section[-1] == "Total: 2/6 points"


def test_parametrised_test_is_scored_per_case(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ex3="""
        import pytest

        @pytest.mark.points(2)
        @pytest.mark.parametrize("n", [1, 2, 3, 4])
        def test_case(n):
            assert n != 3
        """
    )
    section = score_section(run(pytester))
    assert section[1].split() == ["ex3", "3/4", "6/8"]
    assert section[-1] == "Total: 6/8 points"


def test_setup_error_loses_the_points(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ex4="""
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("setup broke")

        @pytest.mark.points(4)
        def test_uses_broken(broken):
            pass

        @pytest.mark.points(1)
        def test_fine():
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    assert score_section(result)[-1] == "Total: 1/5 points"


def test_teardown_error_loses_the_points(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ex4="""
        import pytest

        @pytest.fixture
        def breaks_after():
            yield
            raise RuntimeError("teardown broke")

        @pytest.mark.points(4)
        def test_body_passes(breaks_after):
            pass

        @pytest.mark.points(1)
        def test_fine():
            pass
        """
    )
    result = run(pytester)
    # The test body passed (pytest counts it as passed *and* as an error).
    result.assert_outcomes(passed=2, errors=1)
    section = score_section(result)
    assert section[1].split() == ["ex4", "1/2", "1/5"]
    assert not any("not run" in line for line in section)  # it failed; it did not "not run"
    assert section[-1] == "Total: 1/5 points"


def test_skipped_and_xfail_tests_earn_nothing_but_count(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ex5="""
        import pytest

        @pytest.mark.points(1)
        def test_fine():
            pass

        @pytest.mark.points(2)
        @pytest.mark.skip(reason="not written yet")
        def test_skip_marker():
            pass

        @pytest.mark.points(3)
        def test_skip_inside():
            pytest.skip("skipped inside")

        @pytest.mark.points(4)
        @pytest.mark.xfail(reason="known bug")
        def test_xfail():
            assert False

        @pytest.mark.points(5)
        @pytest.mark.xfail(reason="passes anyway")
        def test_xpass():
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, skipped=2, xfailed=1, xpassed=1)
    section = score_section(result)
    assert section[1].split() == ["ex5", "1/5", "1/15"]
    assert "(4 graded tests skipped: no points earned, but counted in the total)" in section
    assert section[-1] == "Total: 1/15 points"


def test_fractional_points_print_with_at_most_two_decimals(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ex6="""
        import pytest

        @pytest.mark.points(0.5)
        def test_half():
            pass

        @pytest.mark.points(1 / 3)
        def test_third():
            assert False

        @pytest.mark.points(1.5)
        def test_one_and_a_half():
            pass
        """
    )
    section = score_section(run(pytester))
    assert section[-1] == "Total: 2/2.33 points"


def test_tests_that_never_ran_count_toward_the_total(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ex7="""
        import pytest

        @pytest.mark.points(1)
        def test_first_fails():
            assert False

        @pytest.mark.points(2)
        def test_never_reached():
            pass
        """
    )
    section = score_section(run(pytester, "-x"))
    assert "(1 graded test not run: no points earned, but counted in the total)" in section
    assert section[-1] == "Total: 0/3 points"


def test_run_without_points_prints_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_plain="""
        import pytest

        def test_pass():
            pass

        def test_fail():
            assert False

        @pytest.mark.skip
        def test_skip():
            pass
        """
    )
    with_plugin = run(pytester)
    without_plugin = run(pytester, "-p", "no:learnres_grading")
    with_plugin.assert_outcomes(passed=1, failed=1, skipped=1)
    assert score_section(with_plugin) == []
    assert "Total:" not in with_plugin.stdout.str()

    def comparable(lines: list[str]) -> list[str]:
        # Drop the header's plugin list and the timing line ("1 failed, ... in 0.02s").
        return [line for line in lines if not line.startswith("plugins:") and " in " not in line]

    assert comparable(with_plugin.stdout.lines) == comparable(without_plugin.stdout.lines)


def test_strict_markers_accept_points(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_ex8="""
        import pytest

        @pytest.mark.points(1)
        def test_a():
            pass
        """
    )
    result = run(pytester, "--strict-markers")
    result.assert_outcomes(passed=1)
    assert score_section(result)[-1] == "Total: 1/1 points"


@pytest.mark.parametrize("marker", ['"two"', "-1", "0", "", "1, 2", "True"])
def test_bad_points_marker_is_a_usage_error(pytester: pytest.Pytester, marker: str) -> None:
    pytester.makepyfile(
        test_ex9=f"""
        import pytest

        @pytest.mark.points({marker})
        def test_a():
            pass
        """
    )
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*test_a: @pytest.mark.points expects one positive number*"])


def test_gradescope_json(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(
        test_ex1_autograd="""
        import pytest
        EXERCISE = "1. Autograd"

        @pytest.mark.points(2)
        def test_right():
            pass

        @pytest.mark.points(3)
        @pytest.mark.parametrize("x", [1, 2])
        def test_wrong(x):
            assert x == 1, "x should be one but was " + str(x)

        @pytest.mark.points(1)
        @pytest.mark.skip(reason="later")
        def test_skipped():
            pass
        """
    )
    path = tmp_path / "results" / "results.json"
    run(pytester, "--gradescope-json", str(path))
    results = read_json(path)

    assert results["score"] == 5
    assert results["visibility"] == "visible"
    assert results["stdout_visibility"] == "visible"
    assert results["output"].splitlines()[-1] == "Total: 5/9 points"
    assert isinstance(results["execution_time"], int)
    tests = {test["name"]: test for test in results["tests"]}
    assert list(tests) == [
        "1. Autograd: test_right",
        "1. Autograd: test_wrong[1]",
        "1. Autograd: test_wrong[2]",
        "1. Autograd: test_skipped",
    ]
    scores = [(t["score"], t["max_score"], t["status"]) for t in tests.values()]
    assert scores == [(2, 2, "passed"), (3, 3, "passed"), (0, 3, "failed"), (0, 1, "failed")]
    assert all(t["visibility"] == "visible" for t in tests.values())
    assert tests["1. Autograd: test_right"]["output"] == ""
    assert "x should be one but was 2" in tests["1. Autograd: test_wrong[2]"]["output"]
    assert "later" in tests["1. Autograd: test_skipped"]["output"]
    # Nothing but the file itself is left in the folder (no temporary files).
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]


def test_gradescope_json_with_relative_path_and_no_points(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_a():\n    pass\n")
    result = run(pytester, "--gradescope-json", "out/results.json")
    assert score_section(result) == []
    results = read_json(pytester.path / "out" / "results.json")
    assert results["score"] == 0
    assert results["tests"] == []


def test_collection_errors_are_reported(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(
        test_ex1="""
        import pytest

        @pytest.mark.points(2)
        def test_a():
            pass
        """,
        test_ex2="""
        import pytest
        import student_module_that_does_not_exist

        @pytest.mark.points(8)
        def test_b():
            pass
        """,
    )
    # By default pytest stops after a collection error: nothing runs, nothing is earned.
    section = score_section(run(pytester))
    assert section[-1] == "Total: 0/2 points"

    # A grader runs with --continue-on-collection-errors, so the other exercises still count.
    path = tmp_path / "results.json"
    section = score_section(
        run(pytester, "--continue-on-collection-errors", "--gradescope-json", str(path))
    )
    note = "(1 file could not be collected: any points in it are missing from the total)"
    assert note in section
    assert section[-1] == "Total: 2/2 points"
    results = read_json(path)
    error = results["tests"][-1]
    assert (error["name"], error["score"], error["max_score"], error["status"]) == (
        "could not collect test_ex2.py",
        0,
        0,
        "failed",
    )
    assert "student_module_that_does_not_exist" in error["output"]


def test_timeout_fails_and_loses_the_points(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makepyfile(
        test_ex10="""
        import time
        import pytest

        @pytest.mark.points(1)
        def test_quick():
            pass

        @pytest.mark.points(5)
        @pytest.mark.timeout(1)
        def test_forever():
            while True:
                time.sleep(0.05)
        """
    )
    path = tmp_path / "results.json"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--gradescope-json", str(path))
    result.assert_outcomes(passed=1, failed=1)
    assert score_section(result)[-1] == "Total: 1/6 points"
    forever = read_json(path)["tests"][1]
    assert (forever["score"], forever["status"]) == (0, "failed")
    assert "Timeout" in forever["output"]


def test_non_python_items_do_not_crash_it(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest

        class CheckFile(pytest.File):
            def collect(self):
                for line in self.path.read_text().splitlines():
                    name, outcome, points = line.split()
                    item = CheckItem.from_parent(self, name=name, outcome=outcome)
                    if points != "-":
                        item.add_marker(pytest.mark.points(int(points)))
                    yield item

        class CheckItem(pytest.Item):
            def __init__(self, *, outcome, **kwargs):
                super().__init__(**kwargs)
                self.outcome = outcome

            def runtest(self):
                assert self.outcome == "pass", f"{self.name} was told to fail"

            def reportinfo(self):
                return self.path, None, self.name

        def pytest_collect_file(file_path, parent):
            if file_path.suffix == ".check":
                return CheckFile.from_parent(parent, path=file_path)
        """
    )
    pytester.makefile(".check", ex11_items="a pass 2\nb fail 3\nc pass -\n")
    pytester.makepyfile(
        helpers='''
        def double(x):
            """
            >>> double(2)
            4
            """
            return 2 * x
        '''
    )
    result = run(pytester, "--doctest-modules")
    result.assert_outcomes(passed=3, failed=1)
    section = score_section(result)
    assert section[1].split() == ["ex11_items", "1/2", "2/5"]
    assert section[-1] == "Total: 2/5 points"
