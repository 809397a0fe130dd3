"""The CIFAR unpickler admits arrays and plain values, and refuses everything else unrun."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from learnres.data.safe_pickle import RefusedGlobalError, safe_load, safe_loads
from tests.data.official_format import py2_pickle, py3_pickle


class _RunsCommand:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):  # unpickling calls os.system("touch <path>")
        return os.system, (f"touch {self.path}",)


class _CallsEval:
    def __reduce__(self):
        return eval, ("__import__('os').getpid()",)


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_a_pickle_that_would_run_a_command_is_refused_and_nothing_runs(tmp_path, protocol):
    marker = tmp_path / "pwned"
    data = pickle.dumps({b"data": _RunsCommand(marker)}, protocol=protocol)
    with pytest.raises(RefusedGlobalError, match=r"refusing to load global (posix|os|nt)\.system"):
        safe_loads(data, "evil_batch")
    assert not marker.exists()


def test_the_error_names_the_file_and_the_refused_global(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps([_CallsEval()], protocol=2))
    with pytest.raises(RefusedGlobalError) as info:
        safe_load(path)
    assert str(path) in str(info.value) and "__builtin__.eval" in str(info.value)  # py2 name


def test_an_object_array_is_refused():
    data = pickle.dumps(np.array([1, "x"], dtype=object), protocol=2)
    with pytest.raises(RefusedGlobalError, match="object dtype"):
        safe_loads(data)


def test_codecs_encode_only_to_latin1():
    evil = pickle.dumps(b"x", protocol=2).replace(b"latin1", b"rot_13")
    with pytest.raises(RefusedGlobalError, match="latin1"):
        safe_loads(evil)


@pytest.mark.parametrize("pickler", [py2_pickle, py3_pickle], ids=["python2", "python3"])
def test_a_cifar_style_dict_comes_back_intact(pickler):
    data = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    obj = {b"data": data, b"labels": [3, 7], b"batch_label": b"training batch 1 of 5"}
    back = safe_loads(pickler(obj))
    assert set(back) == {b"data", b"labels", b"batch_label"}
    assert back[b"data"].dtype == np.uint8 and np.array_equal(back[b"data"], data)
    assert back[b"labels"] == [3, 7]


def test_python2_pickles_name_numpy_1s_module():
    assert b"numpy.core.multiarray\n_reconstruct" in py2_pickle(np.zeros(3, np.uint8))
    assert safe_loads(py2_pickle(np.zeros(3, np.uint8))).tolist() == [0, 0, 0]


class _CallsNdarray:
    def __init__(self, *args):
        self.args = args

    def __reduce__(self):  # unpickling calls numpy.ndarray(*args)
        return np.ndarray, self.args


@pytest.mark.parametrize("args", [((3,), "O"), ((3,), "u1"), ((10**12,), "u1")])
def test_calling_numpy_ndarray_is_refused(args):
    """Issue 15, item 11: ``numpy.ndarray((3,), "O")`` made an object array on main (the
    reader's dtype check caught it later); the class may only be named for _reconstruct."""
    with pytest.raises(RefusedGlobalError, match="numpy.ndarray may only be named"):
        safe_loads(pickle.dumps(_CallsNdarray(*args), protocol=2))


def test_reconstruct_of_an_object_or_huge_array_is_refused():
    data = py2_pickle(np.zeros(3, np.uint8))
    start = b"ndarray\nq\x01K\x00\x85q\x02U\x01b"  # _reconstruct(ndarray, (0,), "b")
    assert start in data
    as_objects = data.replace(start, start[:-1] + b"O")
    with pytest.raises(RefusedGlobalError, match="object dtype"):
        safe_loads(as_objects)
    two_billion = b"J\xff\xff\xff\x7f"  # 2**31 - 1
    huge = data.replace(start, start.replace(b"K\x00\x85", two_billion * 2 + b"\x86"))
    with pytest.raises(RefusedGlobalError, match="_reconstruct of an array of shape"):
        safe_loads(huge)


def test_an_empty_bytes_object_is_admitted_but_bytes_n_is_not():
    """Python 3 pickles ``b""`` as ``bytes()`` (an empty batch's data): admitted; ``bytes(n)``
    would allocate n bytes: refused."""
    assert safe_loads(pickle.dumps({b"data": b""}, protocol=2)) == {b"data": b""}

    class _Bytes:
        def __reduce__(self):
            return bytes, (10**12,)

    with pytest.raises(RefusedGlobalError, match="without arguments"):
        safe_loads(pickle.dumps(_Bytes(), protocol=2))
