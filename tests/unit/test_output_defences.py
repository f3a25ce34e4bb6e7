"""Issue 18: the served model's output defences and PRADA (Juuti et al. 2019), each checked by hand or
both ways."""

from __future__ import annotations

import numpy as np
import pytest

from mlaudit.defenses.output import OutputDefence, defend, reverse_sigmoid
from mlaudit.defenses.prada import Prada
from mlaudit.errors import ConfigError

P = np.array([[0.7, 0.2, 0.1], [0.05, 0.15, 0.8]])


def test_each_defence_returns_what_it_says():
    rng = np.random.default_rng(0)
    top = defend(P, OutputDefence("top_k", k=2), rng)
    assert top.top_classes.tolist() == [[0, 1], [2, 1]] and top.top_probabilities.tolist() == [[0.7, 0.2], [0.8, 0.15]]
    assert defend(P, OutputDefence("label"), rng).probabilities is None
    assert defend(P, OutputDefence("label"), rng).labels.tolist() == [0, 2]
    assert defend(np.array([[0.123456, 0.876544]]), OutputDefence("round", decimals=2), rng).probabilities.tolist() == [
        [0.12, 0.88]
    ]
    noisy = defend(P, OutputDefence("noise", scale=0.05), rng).probabilities
    assert not np.allclose(noisy, P) and np.allclose(noisy.sum(1), 1) and (noisy >= 0).all()


def test_reverse_sigmoid_by_hand_and_it_keeps_the_top_class():
    """Lee et al. 2019 eq. (3) for y = (0.7, 0.3), beta 0.2, gamma 0.5, computed by hand:
    s^-1(0.7) = ln(7/3) = 0.847298; s(0.423649) = 0.604357; r = 0.2 * 0.104357 = 0.020871;
    s^-1(0.3) = -0.847298; s(-0.423649) = 0.395643; r = -0.020871. y - r = (0.679129, 0.320871), sum 1."""
    q = reverse_sigmoid(np.array([[0.7, 0.3]]), 0.2, 0.5)
    np.testing.assert_allclose(q, [[0.679129, 0.320871]], atol=1e-6)
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(10), size=500)
    assert (reverse_sigmoid(p, 0.2, 0.5).argmax(1) == p.argmax(1)).mean() > 0.95


def test_bad_defences_are_config_errors():
    with pytest.raises(ConfigError, match="blur"):
        OutputDefence("blur")
    with pytest.raises(ConfigError, match="k must"):
        OutputDefence("top_k", k=0)


def test_prada_flags_synthetic_queries_and_not_natural_ones():
    """Natural queries: points of 10 Gaussian clusters (distances to the nearest earlier query of the same
    class look normal). Synthetic queries: 10 seeds and sign steps around them, as Jacobian-based
    augmentation makes (each new query sits lambda * sqrt(d) from its parent: the distances pile up).
    Delta 0.9 as in the paper's experiments; measured over seeds 0-2: W 0.970-0.976 natural, 0.089-0.114
    synthetic, so the threshold sits far from both."""
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, (10, 20))
    labels = rng.integers(0, 10, 600)
    natural = centres[labels] + rng.normal(0, 1, (600, 20))
    det = Prada(delta=0.9)
    det.observe(natural, labels)
    assert det.w is not None and not det.flagged, det.to_dict()

    # Jacobian-based augmentation (Papernot et al. 2017): each round adds x + lambda * sign(gradient) for
    # every query so far (a random sign stands for the substitute's gradient); the child keeps its class
    synthetic = list(centres[:10] + rng.normal(0, 1, (10, 20)))
    syn_labels = list(range(10))
    while len(synthetic) < 600:
        n = len(synthetic)
        for i in range(min(n, 600 - n)):
            synthetic.append(synthetic[i] + 0.1 * np.sign(rng.normal(size=20)))
            syn_labels.append(syn_labels[i])
    det = Prada(delta=0.9)
    det.observe(np.array(synthetic), np.array(syn_labels))
    assert det.flagged, det.to_dict()


def test_a_served_targets_granularity_is_recorded_in_the_threat_model():
    """What the adversary receives goes into the threat model (and so into the report and every finding);
    exact outputs add nothing, an unknown granularity is refused."""
    import json
    from importlib import resources

    import jsonschema

    from mlaudit.runner.setup import with_output
    from mlaudit.scenarios.record import AuditSetup
    from mlaudit.threat import ThreatModel

    class Served:
        granularity = "rounded"

    setup = with_output(AuditSetup(Served(), ThreatModel(), {}, {}, {}))  # type: ignore[arg-type]
    d = setup.threat_model.to_dict()
    assert d["output"] == "rounded"
    assert "output" not in ThreatModel().to_dict()
    schema = json.loads(resources.files("mlaudit.report").joinpath("report.schema.json").read_text())
    jsonschema.validate(d, {**schema["$defs"]["threat_model"], "$defs": schema["$defs"]})
    with pytest.raises(ConfigError, match="granularity"):
        ThreatModel(output="blurred")
