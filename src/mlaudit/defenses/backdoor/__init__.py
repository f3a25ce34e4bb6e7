"""Backdoor detection: trigger reverse-engineering, poisoned-data filtering, input-time detection."""

from mlaudit.defenses.backdoor.activation_clustering import ActivationClusteringResult, activation_clustering
from mlaudit.defenses.backdoor.neural_cleanse import NeuralCleanseResult, neural_cleanse
from mlaudit.defenses.backdoor.representations import penultimate
from mlaudit.defenses.backdoor.spectral_signatures import SpectralResult, spectral_signatures
from mlaudit.defenses.backdoor.strip import StripResult, strip

__all__ = [
    "ActivationClusteringResult",
    "NeuralCleanseResult",
    "SpectralResult",
    "StripResult",
    "activation_clustering",
    "neural_cleanse",
    "penultimate",
    "spectral_signatures",
    "strip",
]
