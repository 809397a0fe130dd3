"""The CIFAR-100 comparison of plain nets, ResNets and VGG, one command each:

    learnres train --model {plain18,plain34,resnet18,resnet34,vgg16,vgg19}-cifar --dataset cifar100

CIFAR-100 is not on these machines, so the path is tested end to end on an archive in the
official format built here (tests/data/official_format.py), served from 127.0.0.1 as a
mirror (``LEARNRES_DATA_URL``) whose digest the test registers: the command downloads it
into an empty cache, checks its MD5, reads the 100 fine labels and trains each model for
one step of batch 2, then evaluates it on the test images.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading

import pytest

from learnres.cli import main as learnres
from learnres.data import REMOTES
from learnres.train import load_checkpoint, read_csv
from learnres.train.run import build_model, check_model_name, model_names
from tests.data.official_format import cifar100_files, tar_gz

COMPARISON = [
    "plain18-cifar",
    "plain34-cifar",
    "resnet18-cifar",
    "resnet34-cifar",
    "vgg16-cifar",
    "vgg19-cifar",
]
ARCHIVE = "cifar-100-python.tar.gz"


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def cifar100_mirror(tmp_path_factory):
    """A CIFAR-100 archive (24 training, 6 test images, 100 fine classes) served over HTTP on
    127.0.0.1: yields (base URL, "md5:<hex>" of the archive)."""
    folder = tmp_path_factory.mktemp("mirror")
    files, _ = cifar100_files(n_train=24, n_test=6, seed=5)
    archive = tar_gz(files, "cifar-100-python")
    (folder / ARCHIVE).write_bytes(archive)
    handler = functools.partial(_Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        yield url, f"md5:{hashlib.md5(archive).hexdigest()}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def downloads_from(cifar100_mirror, tmp_path, monkeypatch):
    """An empty download cache, no data folder, downloads from the mirror (no proxy)."""
    base_url, digest = cifar100_mirror
    monkeypatch.delenv("LEARNRES_DATA_DIR", raising=False)
    monkeypatch.setenv("LEARNRES_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LEARNRES_DATA_URL", base_url)
    for proxy in (
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setitem(REMOTES["cifar100"].files, ARCHIVE, digest)  # the mirror's file
    return tmp_path / "cache"


@pytest.mark.parametrize("model", COMPARISON)
def test_each_model_of_the_comparison_trains_on_downloaded_cifar100(
    model, downloads_from, tmp_path, capsys
):
    out = tmp_path / "run"
    argv = [
        "train",
        "--model",
        model,
        "--dataset",
        "cifar100",
        "--iterations",
        "1",
        "--batch-size",
        "2",
        "--out",
        str(out),
        "--no-progress",
        "--no-plot",
    ]
    assert learnres(argv) == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert f"training {model} on cifar100" in text and "done: 1 iterations" in text
    assert (downloads_from / ARCHIVE).is_file()  # downloaded into the empty cache
    assert read_csv(out).column("test_error")[0] == [1]
    weights = load_checkpoint(out / "checkpoint.npz")["model"]
    assert weights["fc.weight"].shape == (100, 512)  # the 100 fine classes
    stem = weights["conv1.weight" if "vgg" not in model else "conv1.0.weight"].shape
    assert stem == (64, 3, 3, 3)  # the CIFAR stem / VGG's first 3x3 convolution


def test_the_comparison_names_are_listed_and_built():
    assert set(COMPARISON) <= set(model_names())
    assert check_model_name("ResNet34_CIFAR") == "resnet34-cifar"
    with pytest.raises(ValueError, match="resnet34 is the ImageNet network.*use resnet34-cifar"):
        check_model_name("resnet34")
    resnet, plain = build_model("resnet18-cifar", 100, 3), build_model("plain18-cifar", 100, 3)
    assert resnet.num_parameters() == plain.num_parameters()  # option A, as train's default
    assert build_model("resnet18-cifar", 100, 3, shortcut="B").num_parameters() > (
        plain.num_parameters()
    )
    assert build_model("vgg19-cifar", 10, 1).conv1[0].in_channels == 1  # Fashion-MNIST


def test_train_help_lists_the_comparison(capsys):
    with pytest.raises(SystemExit):
        learnres(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for name in COMPARISON:
        assert name in help_text
