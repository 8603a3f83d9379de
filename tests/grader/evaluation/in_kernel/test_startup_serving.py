"""in_kernel/startup_serving.py: a served URL is answered from ./data, a loader of a dataset the lab does not serve
fails saying why, and one it serves fails as it would anywhere."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.grader.evaluation.in_kernel.conftest import sources

URL = "https://example.org/files/set.npz"


@pytest.fixture
def serving(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "set.npz").write_bytes(b"local copy")
    namespace = sources("startup_serving.py", data_dir=str(tmp_path))
    namespace["serve"]({"keras": ["served_set"], "urls": {URL: "set.npz", "https://example.org/gone": "gone.npz"}})
    return namespace


def test_a_served_url_maps_to_its_file_in_data_and_no_other_does(serving: dict[str, Any], tmp_path: Path) -> None:
    local_file = serving["local_file"]
    assert local_file(URL) == str(tmp_path / "set.npz")
    assert local_file(urllib.request.Request(URL)) == str(tmp_path / "set.npz")
    assert local_file("https://example.org/gone") is None  # served, but not in ./data
    assert local_file("https://example.org/other.npz") is None
    assert local_file(None) is None
    assert serving["served"]["torchvision"] == []  # what the description leaves out stays as it was


def test_a_loader_the_lab_does_not_serve_fails_saying_why(serving: dict[str, Any]) -> None:
    def failing(*args: Any, **kwargs: Any) -> Any:
        raise OSError("no network")

    refused = serving["refuse_on_failure"](failing, "keras.datasets.other_set", "keras", "other_set")
    with pytest.raises(serving["DatasetNotServed"]) as caught:
        refused()
    assert str(caught.value) == ("keras.datasets.other_set is not served here: the grader has no network and "
                                 "provides only this lab's data")
    assert isinstance(caught.value.__cause__, OSError)
    served = serving["refuse_on_failure"](failing, "keras.datasets.served_set", "keras", "served_set")
    with pytest.raises(OSError, match="no network"):
        served()
    working = serving["refuse_on_failure"](lambda x: x * 2, "keras.datasets.other_set", "keras", "other_set")
    assert working(21) == 42  # a copy in the work dir still loads


def test_keras_get_file_and_torchvision_download_are_answered_locally(serving: dict[str, Any],
                                                                     tmp_path: Path) -> None:
    calls: list[Any] = []

    def original(*args: Any, **kwargs: Any) -> str:
        calls.append(args)
        return "downloaded"

    (tmp_path / "served_set.npz").write_bytes(b"by name")
    get_file = serving["answering_get_file"](original, "served_set")
    assert get_file("set.npz", URL) == str(tmp_path / "set.npz")
    assert get_file("x.npz", "https://example.org/elsewhere") == str(tmp_path / "served_set.npz")
    assert serving["answering_get_file"](original, "other")("x.npz", "https://example.org/elsewhere") == "downloaded"
    download = serving["answering_download_url"](original)
    assert download(URL, str(tmp_path / "root"), "copy.npz") is None
    assert (tmp_path / "root" / "copy.npz").read_bytes() == b"local copy"
    assert download("https://example.org/elsewhere", str(tmp_path / "root")) == "downloaded"
    assert len(calls) == 2
