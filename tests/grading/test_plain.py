"""Plain data (learnres.grading.plain): what survives the trip, and what is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest

from learnres.grading.plain import MAX_TEXT, Opaque, PlainDataError, dumps, loads


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        3,
        -2.5,
        "text",
        [1, [2, 3]],
        (1, (2.0, None)),
        {"a": {"b": (1,)}},
        float("nan"),
        float("inf"),
    ],
)
def test_python_values_round_trip(value):
    back = loads(dumps(value))
    if isinstance(value, float) and value != value:
        assert back != back
    else:
        assert back == value and type(back) is type(value)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(6.0).reshape(2, 3).T,  # not contiguous
        np.array(3.5),  # 0-d
        np.zeros((0, 4), dtype=np.float32),
        np.array([True, False]),
        np.arange(5, dtype=np.int8),
        np.array([1 + 2j]),
        np.arange(4, dtype=">f8"),  # big-endian comes back native
    ],
)
def test_arrays_keep_values_shape_and_dtype(array):
    back = loads(dumps(array))
    assert isinstance(back, np.ndarray) and back.shape == array.shape
    assert back.dtype == array.dtype.newbyteorder("=") and np.array_equal(back, array)
    back[...] = 0  # a writable copy


def test_numpy_scalars_stay_numpy_scalars():
    for value in (np.float64(2.5), np.float32(1.5), np.int64(4), np.bool_(True)):
        back = loads(dumps(value))
        assert type(back) is type(value) and back == value


def test_anything_else_becomes_opaque():
    class Tensor:
        def __repr__(self):
            raise RuntimeError("a student's repr")

    back = loads(dumps({"x": Tensor(), "y": np.array(["a"]), "z": {1: 2}}))
    assert back["x"] == Opaque("Tensor", "(repr raised RuntimeError)")
    assert isinstance(back["y"], Opaque) and isinstance(back["z"], Opaque)


@pytest.mark.parametrize(
    "tree",
    [
        {"__array__": {"dtype": "|O", "shape": [1], "data": ""}},
        {"__array__": {"dtype": "<f8", "shape": [3], "data": "AAAA"}},  # too few bytes
        {"__array__": {"dtype": "<f8", "shape": [-1], "data": ""}},
        {"__float__": "1e999"},
        {"something": 1},
        {"__dict__": [[1, 2]]},
    ],
)
def test_what_is_not_plain_data_is_refused(tree):
    with pytest.raises(PlainDataError):
        loads(json.dumps(tree))


def test_deep_nesting_and_huge_text_are_refused():
    with pytest.raises(PlainDataError):
        loads("[" * 100 + "]" * 100)
    with pytest.raises(PlainDataError, match="longer than"):
        loads(" " * (MAX_TEXT + 1))
