"""Evasion: adversarial examples against a classifier (white-box, score-based, label-only, transfer, text)."""

from mlaudit.attacks.evasion.apgd import apgd
from mlaudit.attacks.evasion.autoattack import StandardEvaluation, standard_evaluation
from mlaudit.attacks.evasion.cw import cw_l2
from mlaudit.attacks.evasion.fgsm import fgsm
from mlaudit.attacks.evasion.hopskipjump import hopskipjump
from mlaudit.attacks.evasion.pgd import pgd
from mlaudit.attacks.evasion.square import square

__all__ = ["apgd", "cw_l2", "fgsm", "hopskipjump", "pgd", "square", "standard_evaluation", "StandardEvaluation"]
