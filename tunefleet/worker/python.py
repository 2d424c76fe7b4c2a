"""Python objectives given as ``module:function`` (or ``path/to/file.py:function``)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from tunefleet.errors import ConfigError


def load_objective(ref: str, path: str | None = None) -> Any:
    """The callable named by ``ref``; ``path`` (a directory) is searched first."""
    if ":" not in ref:
        raise ConfigError(
            f"objective {ref!r} must look like 'module:function' or 'file.py:function'"
        )
    mod_name, _, fn_name = ref.rpartition(":")
    base = Path(path) if path else Path.cwd()
    try:
        if mod_name.endswith(".py"):
            file = Path(mod_name)
            file = file if file.is_absolute() else base / file
            if not file.exists():
                raise ConfigError(f"objective file {file} does not exist")
            spec = importlib.util.spec_from_file_location(file.stem, file)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[file.stem] = module
            spec.loader.exec_module(module)
        else:
            if str(base) not in sys.path:
                sys.path.insert(0, str(base))
            module = importlib.import_module(mod_name)
    except ConfigError:
        raise
    except ImportError as exc:
        raise ConfigError(f"cannot import the objective's module {mod_name!r} "
                          f"(searched {base} first): {exc}") from None
    except Exception as exc:
        raise ConfigError(f"importing {mod_name!r} failed: {type(exc).__name__}: {exc}") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise ConfigError(f"module {mod_name!r} has no function {fn_name!r}")
    return fn
