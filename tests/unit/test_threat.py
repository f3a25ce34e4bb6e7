import pytest

from mlaudit import Access, ConfigError, Knowledge, ThreatModel, ThreatModelError


def test_access_levels_nest():
    tm = ThreatModel(access=Access.LOGITS)
    assert tm.permits(Access.LABELS, frozenset())
    assert tm.permits(Access.PROBABILITIES, frozenset())
    assert not tm.permits(Access.GRADIENTS, frozenset())


def test_check_names_the_missing_access():
    with pytest.raises(ThreatModelError, match="needs weights access but the threat model grants only labels"):
        ThreatModel(access=Access.LABELS).check("whitebox", Access.WEIGHTS, frozenset())


def test_check_names_the_missing_knowledge():
    with pytest.raises(ThreatModelError, match=r"needs knowledge \[population_data\]"):
        ThreatModel().check("rmia", Access.PROBABILITIES, frozenset({Knowledge.POPULATION_DATA}))


def test_parse_errors_list_valid_values():
    with pytest.raises(ConfigError, match="unknown access level 'logit'; use one of: labels, probabilities"):
        Access.parse("logit")
    with pytest.raises(ConfigError, match="query_budget must be a positive integer"):
        ThreatModel(query_budget=0)


def test_to_dict_round_trips_names():
    tm = ThreatModel(access=Access.WEIGHTS, query_budget=10, knowledge=frozenset({Knowledge.BASE_MODEL}))
    assert tm.to_dict() == {
        "access": "weights",
        "query_budget": 10,
        "knowledge": ["base_model"],
        "asset": "training_data",
    }
