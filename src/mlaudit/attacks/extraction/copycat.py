"""Copycat CNN (Correia-Silva et al. 2018, "Copycat CNN: Stealing Knowledge by Persuading Confession with
Random Non-Labeled Data", IJCNN): label natural inputs from the adversary's own pool with the victim's
predicted labels (labels access only: an API that returns no scores) and train a copy on those labels. It
is the Knockoff procedure with one-hot answers (knockoff_nets.py), so the two compare query for query.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from mlaudit.attacks.extraction.knockoff_nets import KnockoffNets, thief_requires
from mlaudit.requirements import Requires
from mlaudit.threat import Access


@dataclass(frozen=True)
class Copycat(KnockoffNets):
    """Steal a classifier from its labels alone on natural inputs. Correia-Silva et al. 2018."""

    labels_only: ClassVar[bool] = True
    name: ClassVar[str] = "copycat"
    requires: ClassVar[Requires] = thief_requires(Access.LABELS)
    title: ClassVar[str] = "Copycat extraction from labels (Correia-Silva et al. 2018)"
