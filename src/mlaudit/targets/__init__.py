"""Target adapters: the only framework-aware code."""

from mlaudit.targets.base import Target, UnsupportedAccess
from mlaudit.targets.blackbox import CallableTarget
from mlaudit.targets.safe_load import load_state_dict, sniff
from mlaudit.targets.sklearn import SklearnTarget
from mlaudit.targets.torch import TorchTarget
from mlaudit.targets.wrap import as_target

__all__ = [
    "CallableTarget",
    "SklearnTarget",
    "Target",
    "TorchTarget",
    "UnsupportedAccess",
    "as_target",
    "load_state_dict",
    "sniff",
]
