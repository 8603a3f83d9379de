# Runs silently in the sandboxed kernel before the first student cell: fixed seeds, and seeding of the deep-learning
# frameworks at the moment the student imports them (importing them eagerly would cost seconds per notebook); the
# dataset loaders, URLs and `!wget`/`!curl` lines the lab serves answered from the job's visible data (./data), so
# they work offline; the lab's helper modules in ./data importable; and a note of every model (PyTorch, Keras, a
# network of the student's own NumPy framework) and history that existed after each cell, so a model whose variable
# was later reused can still be graded.
def __labgrader_startup() -> None:
    import importlib.abc
    import importlib.machinery
    import os
    import random
    import shutil
    import sys
    import types
    from typing import Any  # imported here: nothing of the start-up stays in the student's namespace

    # One math thread per job unless the worker grants more: co-located jobs on shared cores slow down tenfold when
    # every framework spins a thread per core, and a fixed thread count keeps results reproducible.
    threads = os.environ.get("LABGRADER_CPU_THREADS", "1")
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "TF_NUM_INTRAOP_THREADS"):
        os.environ.setdefault(name, threads)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

    # TensorFlow >= 2.20 wheels load their library with RTLD_GLOBAL (they ship pywrap_dlopen_global_flags.py), which
    # puts their LLVM in the process's global symbols; Triton's libtriton, loaded later (torch imports it with
    # torch._dynamo: `import torchvision`, Lightning), binds its own LLVM calls to that copy and the kernel dies of a
    # segfault (tensorflow/tensorflow#124205). Hidden, the helper lets TensorFlow load with RTLD_LOCAL, as the wheels
    # of TF < 2.20 and of the upstream fix (tensorflow/tensorflow#124230) do. Only where Triton is installed.
    import importlib.util

    if importlib.util.find_spec("triton") is not None:
        sys.modules.setdefault("tensorflow.python.pywrap_dlopen_global_flags", None)  # type: ignore[arg-type]

    # Address space kept for the grader's harness cell: a notebook that fills its memory to the last megabyte
    # (a memory bomb under the address-space rlimit) still gets its models exported. The harness cell releases it
    # first; untouched pages of an anonymous map cost a memory cgroup nothing.
    import mmap

    try:
        sys._labgrader_reserve = mmap.mmap(-1, 64 << 20)  # type: ignore[attr-defined]
    except (OSError, ValueError):
        pass

    data_dir = os.path.join(os.getcwd(), "data")
    if os.path.isdir(data_dir):
        sys.path.append(data_dir)

    random.seed(0)
    try:
        import numpy

        numpy.random.seed(0)
    except ImportError:
        pass

    def seed_torch(module: Any) -> None:
        module.manual_seed(0)
        module.set_num_threads(int(threads))
        fraction = os.environ.get("LABGRADER_TORCH_MEMORY_FRACTION")
        if fraction and module.cuda.is_available():
            # co-located jobs share the card: each may allocate only its slot's share
            module.cuda.set_per_process_memory_fraction(float(fraction))

    def seed_tensorflow(module: Any) -> None:
        try:
            module.random.set_seed(0)
        except AttributeError:
            pass

    def seed_keras(module: Any) -> None:
        try:
            module.utils.set_random_seed(0)
        except AttributeError:
            pass

    # What this job's lab serves offline, set by the job's first private cell (`grader.data.serve.served_code`):
    # loaders read it when they are called, so a warm kernel set up before its lab was known serves the right data.
    served: dict[str, Any] = {"keras": [], "torchvision": [], "urls": {}}

    def serve(description: Any) -> None:
        served.update({key: description.get(key, served[key]) for key in ("keras", "torchvision", "urls")})

    def local_file(url: Any) -> Any:
        # the file in ./data a served URL maps to, when it is there
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
        seed_keras(module)
        import importlib
        import pkgutil

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
        # every dataset class that can download: a lab serves some; the others cannot download here
        import inspect

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
                target.__init__ = refuse_on_failure(target.__init__, f"torchvision.datasets.{name}", "torchvision",
                                                    name)
        loaders: list[Any] = [m for n, m in list(sys.modules.items()) if n.startswith("torchvision.datasets")]
        for loader_module in loaders:
            if callable(getattr(loader_module, "download_url", None)):
                loader_module.download_url = answering_download_url(loader_module.download_url)

    def answer_urllib() -> None:
        import email.message
        import tempfile
        import urllib.request
        import urllib.response

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

    def served_command(command: Any) -> Any:
        # `!wget URL` and `!curl -O URL` (also -O/-o/-P/--output-dir NAME) of a served URL copy the local file
        import shlex

        try:
            words = shlex.split(str(command))
        except ValueError:
            return None
        tool = os.path.basename(words[0]) if words else ""
        found = [w for w in words[1:] if local_file(w)]
        if tool not in ("wget", "curl") or len(found) != 1 or any(w in ("|", "||", "&&", ";", ">") for w in words):
            return None
        url, target, folder, index = found[0], None, ".", 1
        # options that take a value: short letters (also in a cluster such as -qO) and long names
        short = {"wget": {"O": "target", "P": "folder"}, "curl": {"o": "target"}}[tool]
        long = {"wget": {"--output-document": "target", "--directory-prefix": "folder"},
                "curl": {"--output": "target", "--output-dir": "folder"}}[tool]
        while index < len(words):
            word, kind, value = words[index], None, None
            if word.startswith("--"):
                name, _, inline = word.partition("=")
                kind, value = long.get(name), inline or None
                if tool == "curl" and name == "--remote-name":
                    target = os.path.basename(url)
            elif word.startswith("-") and len(word) > 1:
                for position, letter in enumerate(word[1:]):
                    if letter in short:
                        kind, value = short[letter], word[position + 2:] or None
                        break
                    if tool == "curl" and letter == "O":
                        target = os.path.basename(url)
            if kind is not None:
                if value is None and index + 1 < len(words):
                    index += 1
                    value = words[index]
                if kind == "target":
                    target = value
                else:
                    folder = value or "."
            index += 1
        if target == "-":
            return None  # to standard output: not answered
        if tool == "curl" and target is None:
            return None  # curl without -O/-o writes to standard output: not answered
        destination = os.path.join(folder, target or os.path.basename(url))
        os.makedirs(os.path.dirname(destination) or ".", exist_ok=True)
        shutil.copyfile(local_file(url), destination)
        return f"{url}: served from the lab's data as {destination}"

    def answer_shell_commands(shell: Any) -> None:
        for method in ("system", "getoutput"):
            original = getattr(shell, method, None)
            if not callable(original):
                continue

            def answered(command: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
                try:
                    line = served_command(command)
                except Exception:
                    line = None
                if line is None:
                    return _original(command, *args, **kwargs)
                print(line)
                return None

            setattr(shell, method, answered)

    def record_lightning(module: Any) -> None:
        # Lightning keeps only the last value of what a LightningModule logs; the grader needs one per epoch
        found = getattr(module, "LightningModule", None)
        if not isinstance(found, type) or getattr(getattr(found, "log", None), "_labgrader", False):
            return
        cls: Any = found
        original = cls.log

        def log(self: Any, name: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                trainer = self.__dict__.get("_trainer")
                if trainer is not None and not trainer.sanity_checking and isinstance(name, str):
                    number = float(value.item() if hasattr(value, "item") else value)
                    logged = self.__dict__.setdefault("_labgrader_logged", {})
                    if number == number and (name in logged or len(logged) < 20):
                        per_epoch = logged.setdefault(name, {})
                        epoch = int(trainer.current_epoch)
                        if epoch in per_epoch or len(per_epoch) < 1000:
                            total = per_epoch.setdefault(epoch, [0.0, 0])
                            total[0] += number
                            total[1] += 1
            except Exception:
                pass
            return original(self, name, value, *args, **kwargs)

        marked: Any = log
        marked._labgrader = True
        cls.log = marked

    after_import = {"torch": seed_torch, "tensorflow": seed_tensorflow, "keras": redirect_keras,
                    "torchvision.datasets": refuse_torchvision, "lightning.pytorch": record_lightning,
                    "pytorch_lightning": record_lightning}
    after_import.update(globals().pop("__labgrader_after_import", {}))

    class AfterImport(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
            hook = after_import.get(name)
            if hook is None:
                return None
            for finder in sys.meta_path:
                if finder is self:
                    continue
                spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
                if spec is not None and spec.loader is not None:
                    break
            else:
                return None
            loader = spec.loader
            original = loader.exec_module

            def exec_module(module: Any) -> None:
                original(module)
                after_import.pop(name, None)
                try:
                    hook(module)
                except Exception:
                    pass

            loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, AfterImport())

    seen: Any = types.ModuleType("_labgrader_seen")
    seen.models, seen.histories = [], []
    seen.serve = serve
    sys.modules["_labgrader_seen"] = seen
    try:
        answer_urllib()
    except Exception:
        pass
    limit = 32

    def own_attributes(value: Any) -> dict[str, Any]:
        try:
            found = object.__getattribute__(value, "__dict__")  # no property or __getattr__ of the student's runs
        except Exception:
            return {}
        return found if type(found) is dict else {}

    def is_numpy_network(value: Any) -> bool:
        # the student's own NumPy framework (the curriculum's `Net`): a `layers` list with a 2-D weight array in it
        numpy_module = sys.modules.get("numpy")
        layers = own_attributes(value).get("layers")
        if numpy_module is None or type(layers) is not list or not 0 < len(layers) <= 64:
            return False
        return any(type(v) is numpy_module.ndarray and v.ndim == 2 for layer in layers
                   for v in list(own_attributes(layer).values())[:20])

    def is_model(value: Any) -> bool:
        if isinstance(value, type | types.ModuleType):
            return False
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(value, torch.nn.Module):
            return any(True for _ in value.parameters())
        keras = sys.modules.get("keras")
        model_class = getattr(keras, "Model", None)
        return (isinstance(model_class, type) and isinstance(value, model_class)) or is_numpy_network(value)

    def is_history(value: Any) -> bool:
        # never getattr() arbitrary objects: lazy modules import things on attribute access
        keras_history = type(value).__name__ == "History" and type(value).__module__.startswith(("keras", "tf_keras"))
        record = value if isinstance(value, dict) else (value.__dict__.get("history") if keras_history else None)
        return (isinstance(record, dict) and any("loss" in str(k) for k in list(record)[:50])
                and isinstance(next(iter(record.values()), None), list))

    def remember(cell_number: Any) -> None:
        known = {id(v) for _, _, v in seen.models} | {id(v) for _, _, v in seen.histories}
        user_ns = shell.user_ns
        for name, value in list(user_ns.items()):
            if name.startswith("_") or name in ("In", "Out"):
                continue
            items = [(name, value)]
            if isinstance(value, dict):
                items += [(f"{name}[{k!r}]", v) for k, v in list(value.items())[:50]]
            elif isinstance(value, (list, tuple)):
                items += [(f"{name}[{i}]", v) for i, v in enumerate(list(value)[:50])]
            for label, item in items:
                if id(item) in known:
                    continue
                try:
                    if is_model(item) and len(seen.models) < limit:
                        seen.models.append((label, cell_number, item))
                        known.add(id(item))
                    elif is_history(item) and len(seen.histories) < limit:
                        seen.histories.append((label, cell_number, item))
                        known.add(id(item))
                except Exception:
                    pass

    def after_cell(result: Any) -> None:
        try:
            remember(getattr(result, "execution_count", None) or shell.execution_count)
        except Exception:
            pass

    shell = get_ipython()  # type: ignore[name-defined]  # noqa: F821 - defined in every IPython kernel
    if shell is not None:
        shell.events.register("post_run_cell", after_cell)
        answer_shell_commands(shell)
    os.makedirs(os.environ.get("TMPDIR", "/tmp"), exist_ok=True)


__labgrader_startup()
del __labgrader_startup
