"""The user's own network class, named in the config as `file.py:factory` or `package.module:factory`.

Importing it runs the user's code: that happens only because their config names it, is logged, and
never takes code from an audited model file (weights load separately, from safetensors only).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from mlaudit.errors import InputError

log = logging.getLogger(__name__)

# modules imported from the user's files are registered under this prefix (other processes cannot import
# them by name: an executor sends them by value, see scenarios.executors)
USER_MODULE_PREFIX = "mlaudit_user_"


def load_factory(spec: str, *, base_dir: Path | None = None, key: str = "target.factory") -> Callable[..., Any]:
    """The callable `spec` names: `path/to/file.py:name` (relative to `base_dir`, the config's folder)
    or `package.module:name` (importable from the environment); `key`: the config key naming it."""
    where, sep, name = spec.rpartition(":")
    if not sep or not where or not name.isidentifier():
        raise InputError(f"{key} {spec!r} is not 'file.py:function' or 'package.module:function'")
    if where.endswith(".py"):
        path = Path(where) if base_dir is None or Path(where).is_absolute() else base_dir / where
        if not path.is_file():
            raise InputError(f"{key} names {path}, which is not a file; give the path to your .py file")
        log.warning("importing your code from %s (named by %s in the config)", path, key)
        mod_name = f"{USER_MODULE_PREFIX}{abs(hash(str(path.resolve())))}"
        loader_spec = importlib.util.spec_from_file_location(mod_name, path)
        if loader_spec is None or loader_spec.loader is None:
            raise InputError(f"cannot import {path} as a Python module")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[mod_name] = module  # dataclasses and pickling-free helpers in it need the module registered
        loader_spec.loader.exec_module(module)
    else:
        log.warning("importing your module %s (named by %s in the config)", where, key)
        try:
            module = importlib.import_module(where)
        except ImportError as e:
            raise InputError(f"{key}: cannot import {where!r} ({e}); install it or give a file path") from None
    factory = getattr(module, name, None)
    if factory is None or not callable(factory):
        found = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))[:12]
        raise InputError(f"{key}: {where} has no callable {name!r}; it defines {', '.join(found) or 'none'}")
    return factory  # type: ignore[no-any-return]


def build_from_factory(factory: Callable[..., nn.Module], args: dict[str, Any], spec: str) -> nn.Module:
    """Call the factory with the config's keyword arguments; it must return a torch module."""
    try:
        inspect.signature(factory).bind(**args)
    except TypeError as e:
        raise InputError(f"target.factory_args {args!r} do not fit {spec}: {e}") from None
    model = factory(**args)
    if not isinstance(model, nn.Module):
        raise InputError(f"target.factory {spec} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


@dataclass(frozen=True)
class UserFit:
    """The user's own training function (recipe.fit), called as fn(model, x, y, seed=..., **args) on
    numpy arrays; it trains `model` in place (returning None) or returns the trained module. A plain
    object, so a process pool can carry it to another process."""

    fn: Callable[..., Any]
    args: dict[str, Any]
    spec: str

    @classmethod
    def load(cls, spec: str, args: dict[str, Any]) -> UserFit:
        fn = load_factory(spec, key="recipe.fit")
        try:
            inspect.signature(fn).bind(None, None, None, seed=0, **args)
        except TypeError as e:
            raise InputError(
                f"recipe.fit {spec} must accept (model, x, y, seed=..., **fit_args) with fit_args {args!r}: {e}"
            ) from None
        return cls(fn, dict(args), spec)

    def __call__(self, model: nn.Module, x: np.ndarray, y: np.ndarray, *, seed: int) -> nn.Module:
        out = self.fn(model, x, y, seed=seed, **self.args)
        if out is None:
            return model
        if not isinstance(out, nn.Module):
            raise InputError(f"recipe.fit {self.spec} returned a {type(out).__name__}; return the model or None")
        return out
