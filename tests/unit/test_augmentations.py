"""LiRA's augmented views of images, and references that record them."""

import numpy as np
import pytest

from mlaudit.attacks.membership.augmentations import VIEWS, view


def test_views_move_pixels_and_fill_with_zeros():
    x = np.arange(9, dtype=np.float32).reshape(1, 1, 3, 3) + 1
    np.testing.assert_array_equal(view(x, "mirror")[0, 0, 0], [3, 2, 1])
    np.testing.assert_array_equal(view(x, "shift-right")[0, 0, 0], [0, 1, 2])
    np.testing.assert_array_equal(view(x, "shift-left")[0, 0, 0], [2, 3, 0])
    np.testing.assert_array_equal(view(x, "shift-down")[0, 0, :, 0], [0, 1, 4])
    np.testing.assert_array_equal(view(x, "shift-up")[0, 0, :, 0], [4, 7, 0])
    assert all(view(x, v).shape == x.shape for v in VIEWS)


def test_views_refuse_non_images():
    with pytest.raises(ValueError, match=r"need images \(N, C, H, W\)"):
        view(np.zeros((4, 3)), "mirror")
    with pytest.raises(ValueError, match="unknown view 'rotate'"):
        view(np.zeros((1, 1, 2, 2)), "rotate")
