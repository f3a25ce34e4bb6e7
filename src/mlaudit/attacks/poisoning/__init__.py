"""Poisoning: backdoors planted through the training data (image patches, blended patterns, clean-label, text)."""

from mlaudit.attacks.poisoning.badnets import BadNets
from mlaudit.attacks.poisoning.base import Poisoned, attack_success_rate
from mlaudit.attacks.poisoning.blended import Blended
from mlaudit.attacks.poisoning.clean_label import LabelConsistent
from mlaudit.attacks.poisoning.text_trigger import TextTrigger

__all__ = ["BadNets", "Blended", "LabelConsistent", "Poisoned", "TextTrigger", "attack_success_rate"]
