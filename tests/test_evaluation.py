import numpy as np
import pytest
from scipy.special import softmax as scipy_softmax

from recipes_utils.evaluation import calibration_bins, expected_calibration_error, softmax


def test_softmax_matches_scipy_and_is_stable():
    z = np.random.default_rng(0).normal(size=(5, 4)) * 10
    np.testing.assert_allclose(softmax(z), scipy_softmax(z, axis=-1))
    big = softmax(np.array([[1000.0, 0.0, -1000.0]]))
    np.testing.assert_allclose(big, [[1.0, 0.0, 0.0]])


def test_ece_against_a_hand_computation():
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55]])
    y = np.array([0, 1, 1, 0])
    # Confidences 0.9, 0.8, 0.7, 0.55 with 2 bins (0-0.5, 0.5-1): all in bin 2; accuracy 2/4; mean conf 0.7375.
    assert expected_calibration_error(probs, y, n_bins=2) == pytest.approx(abs(0.5 - 0.7375))
    # 10 bins: 0.9 -> bin 8 (0.8, 0.9] right-closed, 0.8 -> bin 7, 0.7 -> bin 6, 0.55 -> bin 5, one point each.
    expected = (abs(1 - 0.9) + abs(0 - 0.8) + abs(1 - 0.7) + abs(0 - 0.55)) / 4
    assert expected_calibration_error(probs, y, n_bins=10) == pytest.approx(expected)


def test_perfectly_calibrated_predictions_have_small_ece():
    rng = np.random.default_rng(1)
    p1 = rng.uniform(0.5, 1, 200_000)
    probs = np.column_stack([p1, 1 - p1])
    y = (rng.uniform(size=p1.size) > p1).astype(int)  # class 0 with probability p1
    assert expected_calibration_error(probs, y) < 0.01
    _, _conf, _acc, count = calibration_bins(probs, y)
    assert count.sum() == 200_000


@pytest.mark.parametrize(
    "probs, y, match",
    [
        (np.ones(3), np.zeros(3, int), r"shape \(n, n_classes\)"),
        (np.full((3, 2), 0.5), np.zeros(2, int), r"y must have shape \(3,\)"),
        (np.full((3, 2), 0.5), np.array([0, 1, 2]), "class codes 0..1"),
        (np.full((3, 2), 0.6), np.zeros(3, int), "probability vector"),
    ],
)
def test_bad_input(probs, y, match):
    with pytest.raises(ValueError, match=match):
        expected_calibration_error(probs, y)


def test_entropy_decomposition_against_hand_computation():
    from recipes_utils.evaluation import entropy_decomposition

    # Two draws that disagree completely: each is certain, their mean is 50/50.
    disagree = np.array([[[1.0, 0.0]], [[0.0, 1.0]]])
    total, expected, mi = entropy_decomposition(disagree)
    assert total[0] == pytest.approx(np.log(2)) and expected[0] == pytest.approx(0, abs=1e-9)
    assert mi[0] == pytest.approx(np.log(2))
    # Two draws that agree on 50/50: all the uncertainty is in the data, none in the model.
    agree = np.full((2, 1, 2), 0.5)
    total, expected, mi = entropy_decomposition(agree)
    assert total[0] == pytest.approx(np.log(2)) and expected[0] == pytest.approx(np.log(2))
    assert mi[0] == pytest.approx(0, abs=1e-12)
    with pytest.raises(ValueError, match="n_draws, n, n_classes"):
        entropy_decomposition(np.full((2, 2), 0.5))


def test_accuracy_rejection():
    from recipes_utils.evaluation import accuracy_rejection

    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.55, 0.45]])
    y = np.array([0, 0, 1, 1])  # the two least certain points are wrong
    uncertainty = 1 - probs.max(axis=1)
    _fr, acc = accuracy_rejection(probs, y, uncertainty, fractions=[0, 0.25, 0.5])
    np.testing.assert_allclose(acc, [0.5, 2 / 3, 1.0])
    with pytest.raises(ValueError, match="uncertainty must have shape"):
        accuracy_rejection(probs, y, uncertainty[:2])
    with pytest.raises(ValueError, match=r"fractions must lie in \[0, 1\)"):
        accuracy_rejection(probs, y, uncertainty, fractions=[1.0])
