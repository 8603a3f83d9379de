# Runs silently in the sandboxed kernel after the start-up, once per job, told what the lab serves the way its course
# loads it (`grader.data.serve.course_call`): reads of the served pickles at the paths the course's notebooks use
# outside their folder (`../../data/name.pkl.gz`) answered with the file in ./data; a read of a path that cannot exist
# on a grader (a Windows path, a home folder) of a served file's name failing with a message naming where it is
# served; the class a file of both pickle layouts unpickles to (the module `_labgrader_course`); the NumPy 1 names a
# lab opts into; and `%matplotlib widget` (or another interactive backend) drawing with the static inline backend, so
# the figures are kept in the graded notebook.
def __labgrader_course_files(description: dict) -> None:  # type: ignore[type-arg]
    import builtins
    import fnmatch
    import io
    import os
    import re
    import sys
    from typing import Any

    exists, isfile = os.path.exists, os.path.isfile  # the originals: the replacements below call them
    data_dir = os.path.join(os.getcwd(), "data")
    paths = {os.path.normpath(path): os.path.join(data_dir, file)
             for path, file in dict(description.get("paths") or {}).items()}
    # how a message names where a file is served: the path in the notebook's folder when there is one
    shown: dict[str, str] = {}
    for path, file in dict(description.get("paths") or {}).items():
        name = os.path.basename(file)
        if not path.startswith(".."):
            shown[os.path.basename(path)] = path
        shown.setdefault(name, f"data/{name}")
    foreign = re.compile(r"^([A-Za-z]:[\\/]|\\\\|~|/home/|/Users/|/content/|/kaggle/)")
    writes = set("wax+")

    def text_of(file: Any) -> Any:
        try:
            text = os.fspath(file)
        except TypeError:
            return None
        return text if isinstance(text, str) else None

    def answered(file: Any) -> Any:
        # the local file a read of a declared path outside the folder gets, when nothing is there
        text = text_of(file)
        if text is None or os.path.isabs(text):
            return None
        local = paths.get(os.path.normpath(text))
        if local is None or exists(text) or not isfile(local):
            return None
        return local

    def unreachable(text: Any) -> Any:
        if text is None or not foreign.match(text):
            return None
        name = re.split(r"[\\/]", text)[-1]
        if name not in shown and not isfile(os.path.join(data_dir, name)):
            return None
        where = shown.get(name, f"data/{name}")
        # short: a report quotes the first 200 characters of an error
        return (f"{text} is a path on your computer, not on the grader: it serves {name} as `{where}` (from the "
                "notebook's folder)")

    def serving_open(original: Any) -> Any:
        def open(file: Any, mode: Any = "r", *args: Any, **kwargs: Any) -> Any:
            if not (writes & set(str(mode))):
                local = answered(file)
                if local is not None:
                    return original(local, mode, *args, **kwargs)
            try:
                return original(file, mode, *args, **kwargs)
            except FileNotFoundError:
                message = unreachable(text_of(file))
                if message is None:
                    raise
                raise FileNotFoundError(message) from None

        return open

    def serving_check(original: Any) -> Any:
        def check(path: Any) -> Any:
            return original(path) or answered(path) is not None

        return check

    shell = get_ipython()  # type: ignore[name-defined]  # noqa: F821 - defined in every IPython kernel
    module_text = description.get("course_module")
    if module_text and "_labgrader_course" not in sys.modules:
        # the class the served pickles of both layouts unpickle to (grader/data/course_pickle.py)
        import types

        module = types.ModuleType("_labgrader_course")
        sys.modules["_labgrader_course"] = module
        exec(compile(module_text, "_labgrader_course.py", "exec"), module.__dict__)  # noqa: S102 - our own source
    if paths or shown:
        builtins.open = serving_open(builtins.open)
        io.open = serving_open(io.open)
        os.path.exists = serving_check(os.path.exists)
        os.path.isfile = serving_check(os.path.isfile)
        # IPython gives the notebook its own `open` (a wrapper of the io.open it imported): that one answers too
        for namespace in (getattr(shell, "user_ns", None), getattr(shell, "user_ns_hidden", None)):
            if isinstance(namespace, dict) and callable(namespace.get("open")):
                namespace["open"] = serving_open(namespace["open"])
    linked = {path: os.path.join(data_dir, file) for path, file in dict(description.get("paths") or {}).items()
              if not path.startswith("..")}
    for method in ("system", "getoutput") if linked else ():
        inner = getattr(shell, method, None)
        if not callable(inner):
            continue

        def downloading(command: Any, *args: Any, _inner: Any = inner, **kwargs: Any) -> Any:
            # `!wget URL` of a served file over the grader's read-only link of that name: the link goes first, so
            # the start-up's answer (or wget itself) writes the student's own copy, as on their machine. `!rm *.pkl`
            # removes the links it names here: rm asks before removing a read-only file when its input is a
            # terminal (as `!` gives it), and nothing answers, so the cell waited until its limit
            try:
                words = str(command).split()
                tool = os.path.basename(words[0]) if words else ""
                if tool in ("wget", "curl"):
                    named = {re.split(r"[?#]", word)[0].rstrip("/").rsplit("/", 1)[-1] for word in words[1:]}
                    gone = [path for path in linked if os.path.basename(path) in named]
                elif tool == "rm":
                    patterns = [os.path.normpath(word) for word in words[1:] if not word.startswith("-")]
                    gone = [path for path in linked if any(fnmatch.fnmatchcase(path, p) for p in patterns)]
                else:
                    gone = []
                for path in gone:
                    served_file = linked[path]
                    if isfile(path) and isfile(served_file) and os.path.samefile(path, served_file):
                        os.unlink(path)
            except Exception:
                pass
            return _inner(command, *args, **kwargs)

        setattr(shell, method, downloading)

    numpy = sys.modules.get("numpy")
    if description.get("numpy1_names") and numpy is None:
        try:  # the start-up's seeding imported it already where it is installed
            import numpy
        except ImportError:
            numpy = None
    if description.get("numpy1_names") and numpy is not None:
        # names NumPy 2 removed, each given back as the name it was an alias of
        aliases = {"NAN": "nan", "NaN": "nan", "Inf": "inf", "Infinity": "inf", "infty": "inf", "PINF": "inf",
                   "float_": "float64", "complex_": "complex128", "string_": "bytes_", "unicode_": "str_",
                   "product": "prod", "cumproduct": "cumprod", "alltrue": "all", "sometrue": "any", "round_": "round"}
        for old, new in aliases.items():
            if old not in numpy.__dict__ and new in numpy.__dict__:
                setattr(numpy, old, numpy.__dict__[new])
        if "NINF" not in numpy.__dict__:
            setattr(numpy, "NINF", -numpy.inf)  # noqa: B010 - a name this NumPy's stubs do not have
        if "asfarray" not in numpy.__dict__:
            setattr(numpy, "asfarray", lambda a, dtype=numpy.float64: numpy.asarray(a, dtype=dtype))  # noqa: B010
        # NumPy < 1.24 made an object array of ragged lists (the lesson's `train_graph` keeps
        # `np.array([(weights, accuracy), ...])`); NumPy >= 1.24 raises ValueError: given back for `np.array` called
        # without a dtype, as NumPy 1 did
        exact: Any = getattr(numpy, "array")  # noqa: B009 - the stubs of the module object know no attribute

        def array(obj: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return exact(obj, *args, **kwargs)
            except ValueError as exc:
                if args or kwargs.get("dtype") is not None or "inhomogeneous" not in str(exc):
                    raise
                return exact(obj, *args, **{**kwargs, "dtype": object})

        if getattr(exact, "__name__", "") == "array":
            setattr(numpy, "array", array)  # noqa: B010 - as above

    enable = getattr(shell, "enable_matplotlib", None)
    if callable(enable):
        interactive = {"widget", "ipympl", "notebook", "nbagg", "qt", "qt4", "qt5", "qt6", "tk", "gtk", "gtk3",
                       "gtk4", "wx", "osx", "macosx", "auto"}

        def enable_matplotlib(gui: Any = None) -> Any:
            # a grader has no screen and keeps only static figures: an interactive backend draws inline instead
            return enable("inline" if str(gui).lower() in interactive else gui)

        shell.enable_matplotlib = enable_matplotlib

    import importlib.abc

    class StaticAfterIpympl(importlib.abc.MetaPathFinder):
        # `import ipympl` switches matplotlib to its widget backend: switched back to inline right after
        def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
            if name != "ipympl":
                return None
            for finder in sys.meta_path:
                spec = None if finder is self else getattr(finder, "find_spec", lambda *a: None)(name, path, target)
                if spec is not None and spec.loader is not None:
                    break
            else:
                return None
            sys.meta_path.remove(self)
            original = spec.loader.exec_module

            def exec_module(module: Any) -> None:
                original(module)
                try:
                    sys.modules["matplotlib"].use("module://matplotlib_inline.backend_inline")
                except Exception:
                    pass

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, StaticAfterIpympl())

