"""Per-example risk and the most exposed members, shown as the data is."""

import numpy as np

from mlaudit.attacks.membership.evaluate import exposed_artifacts, exposure
from mlaudit.data import Dataset


def test_exposure_is_the_share_of_non_members_scoring_below():
    s_out = np.array([0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(exposure(np.array([-1.0, 1.0, 2.5, 9.0]), s_out), [0.0, 0.25, 0.75, 1.0])


def _members(kind, n=20):
    rng = np.random.default_rng(0)
    x = rng.random((n, 1, 4, 4)).astype(np.float32) if kind == "image" else rng.normal(size=(n, 3))
    if kind == "text":
        x = [f"snippet number {i}" for i in range(n)]
    d = Dataset(x, np.arange(n) % 2, ("neg", "pos"), "m", kind)
    return d.subset(np.arange(n), "members")  # ids 0..n-1


def test_images_shown_as_a_grid_and_ranked_by_score():
    m = _members("image")
    s_in = np.arange(20, dtype=float)  # member 19 scores highest
    table, grid = exposed_artifacts(m, s_in, np.arange(20, dtype=float) - 0.5, k=5)
    assert grid.kind == "image_grid" and grid.data["png_base64"]
    assert [r[1] for r in table.data["rows"]] == [19, 18, 17, 16, 15]
    assert table.data["rows"][0][4] == 0.0  # above every non-member: flagged at FPR 0 (a number, not text)
    assert table.data["rows"][0][3] == 19.0 and table.data["percent_columns"] == ["flagged at FPR"]
    assert grid.title == "The most exposed members"
    assert table.data["rows"][0][5] == "image 1 of 'The most exposed members'"
    assert len(table.data["risk_by_id"]) == 20 and table.data["risk_by_id"]["0"] == 0.05


def test_text_and_rows_shown_as_text_and_values():
    t = exposed_artifacts(_members("text"), np.arange(20.0), np.zeros(5), k=3)
    assert len(t) == 1 and t[0].data["rows"][0][5] == "snippet number 19"
    r = exposed_artifacts(_members("tabular"), np.arange(20.0), np.zeros(5), k=3)
    assert r[0].data["rows"][0][5].count(",") == 2  # the three feature values


def test_ties_at_the_cut_are_said_not_ranked():
    """Eight of twenty members share the top score: the table cannot rank them, and says how many tie."""
    s_in = np.r_[np.full(8, 50.0), np.arange(12.0)]
    (table,) = exposed_artifacts(_members("text"), s_in, np.zeros(5), k=3)
    assert "8 members tie at score 50, 3 of them shown, in data order" in table.title
    (untied,) = exposed_artifacts(_members("text"), np.arange(20.0), np.zeros(5), k=3)
    assert "tie" not in untied.title
