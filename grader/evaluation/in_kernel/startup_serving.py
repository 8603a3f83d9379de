# Start-up: the dataset loaders, URLs and downloads the lab serves, answered from the job's visible data (./data), so
# they work offline; a loader of a dataset the lab does not serve fails with DatasetNotServed, which says why. What a
# job's lab serves is set by the job's first private cell (`grader.data.serve.served_code` calls `serve`): loaders
# read it when they are called, so a warm kernel set up before its lab was known serves the right data. Runs in the
# student's kernel after startup_process.py, in the same private namespace; startup.py installs the hooks.
import email.message
import importlib
import inspect
import os
import pkgutil
import shutil
import sys
import tempfile
import urllib.request
import urllib.response
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # defined by the start-up's earlier sources, which run first in the same namespace
    from grader.evaluation.in_kernel.startup_process import data_dir

served: dict[str, Any] = {"keras": [], "torchvision": [], "urls": {}}


def serve(description: Any) -> None:
    served.update({key: description.get(key, served[key]) for key in ("keras", "torchvision", "urls")})


def local_file(url: Any) -> Any:
    """The file in ./data a served URL maps to, when it is there."""
    if not isinstance(url, str):
        url = getattr(url, "full_url", None)
    name = served["urls"].get(str(url or ""))
    path = os.path.join(data_dir, name) if name else None
    return path if path and os.path.isfile(path) else None


class DatasetNotServed(RuntimeError):
    """A dataset other than the lab's: the sandbox has no network, so it cannot be downloaded."""


served_note = "is not served here: the grader has no network and provides only this lab's data"


def refuse_on_failure(original: Any, shown: str, kind: str, name: str) -> Any:
    # the loader runs as usual (a copy in the work dir still loads); only the failure of a loader the lab does
    # not serve gets a message that says why
    def load(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        except Exception as exc:
            if name in served[kind]:
                raise
            raise DatasetNotServed(f"{shown} {served_note}") from exc

    return load


def answering_get_file(original: Any, dataset: Any) -> Any:
    # Keras checks the canonical file's sha256 and downloads when the cached file differs; the visible split
    # differs by design and there is no network here, so served requests are answered with the local file.
    def get_file(fname: Any = None, origin: Any = None, *args: Any, **kwargs: Any) -> Any:
        local = local_file(origin)
        if local is None and dataset in served["keras"]:
            candidate = os.path.join(data_dir, f"{dataset}.npz")
            local = candidate if os.path.isfile(candidate) else None
        return local if local is not None else original(fname, origin, *args, **kwargs)

    return get_file


def redirect_keras(module: Any) -> None:
    """Keras's `get_file` answered from ./data, and each `keras.datasets.*.load_data` refused when not served."""
    for utils_name in ("keras.utils", "keras.src.utils", "keras.src.utils.file_utils"):
        utils_module: Any = sys.modules.get(utils_name)
        if utils_module is not None and callable(getattr(utils_module, "get_file", None)):
            utils_module.get_file = answering_get_file(utils_module.get_file, None)
    try:
        package = importlib.import_module("keras.src.datasets")
    except ImportError:
        return
    for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
        try:
            loader_module: Any = importlib.import_module(f"keras.src.datasets.{info.name}")
        except Exception:  # noqa: S112 - a loader that does not import is one the student cannot call either
            continue
        if callable(getattr(loader_module, "get_file", None)):
            loader_module.get_file = answering_get_file(loader_module.get_file, info.name)
        original = getattr(loader_module, "load_data", None)
        if callable(original):
            refusing = refuse_on_failure(original, f"keras.datasets.{info.name}", "keras", info.name)
            loader_module.load_data = refusing
            try:
                public: Any = importlib.import_module(f"keras.datasets.{info.name}")
            except Exception:
                public = None
            if public is not None and getattr(public, "load_data", None) is original:
                public.load_data = refusing


def answering_download_url(original: Any) -> Any:
    def download_url(url: Any, root: Any, filename: Any = None, *args: Any, **kwargs: Any) -> Any:
        local = local_file(url)
        if local is None:
            return original(url, root, filename, *args, **kwargs)
        root = os.path.expanduser(os.fspath(root))
        os.makedirs(root, exist_ok=True)
        shutil.copyfile(local, os.path.join(root, filename or os.path.basename(str(url))))
        return None

    return download_url


def refuse_torchvision(module: Any) -> None:
    """Every torchvision dataset class that can download: a lab serves some; the others cannot download here."""
    base = getattr(module, "VisionDataset", None)
    for name in sorted(dir(module)):
        cls = getattr(module, name, None)
        if not (isinstance(cls, type) and isinstance(base, type) and issubclass(cls, base)):
            continue
        try:
            downloads = "download" in inspect.signature(cls.__init__).parameters
        except (TypeError, ValueError):
            downloads = False
        if downloads:
            target: Any = cls
            target.__init__ = refuse_on_failure(target.__init__, f"torchvision.datasets.{name}", "torchvision", name)
    loaders: list[Any] = [m for n, m in list(sys.modules.items()) if n.startswith("torchvision.datasets")]
    for loader_module in loaders:
        if callable(getattr(loader_module, "download_url", None)):
            loader_module.download_url = answering_download_url(loader_module.download_url)


def answer_urllib() -> None:
    """urllib's urlopen and urlretrieve answer a served URL from ./data."""
    urlopen, urlretrieve = urllib.request.urlopen, urllib.request.urlretrieve

    def served_urlopen(url: Any, *args: Any, **kwargs: Any) -> Any:
        local = local_file(url)
        if local is None:
            return urlopen(url, *args, **kwargs)
        return urllib.response.addinfourl(open(local, "rb"), email.message.Message(), str(url), 200)

    def served_urlretrieve(url: Any, filename: Any = None, *args: Any, **kwargs: Any) -> Any:
        local = local_file(url)
        if local is None:
            return urlretrieve(url, filename, *args, **kwargs)
        if filename is None:
            handle, filename = tempfile.mkstemp()
            os.close(handle)
        shutil.copyfile(local, filename)
        return filename, email.message.Message()

    urllib.request.urlopen, urllib.request.urlretrieve = served_urlopen, served_urlretrieve
