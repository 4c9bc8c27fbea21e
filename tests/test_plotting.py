import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from recipes_utils.plotting import control_position, plot_curve_band, plot_dose_response_data


def test_controls_drawn_a_decade_below():
    assert control_position([0, 0.94, 30]) == pytest.approx(0.094)
    fig, ax = plt.subplots()
    plot_dose_response_data(ax, [0, 1, 10], [5, 4, 1])
    offsets = ax.collections[0].get_offsets()
    np.testing.assert_allclose(offsets[:, 0], [0.1, 1, 10])
    assert ax.get_xscale() == "log"
    plt.close(fig)


def test_bad_input():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="same shape"):
        plot_dose_response_data(ax, [0, 1], [1, 2, 3])
    with pytest.raises(ValueError, match=">= 0"):
        plot_dose_response_data(ax, [-1, 1], [1, 2])
    with pytest.raises(ValueError, match="positive concentration"):
        control_position([0, 0])
    with pytest.raises(ValueError, match=r"draws must have shape \(n_draws, 3\)"):
        plot_curve_band(ax, [1, 2, 3], np.zeros((5, 4)))
    with pytest.raises(ValueError, match="prob must lie in"):
        plot_curve_band(ax, [1, 2, 3], np.zeros((5, 3)), prob=94)
    plt.close(fig)


def test_band_contains_median():
    fig, ax = plt.subplots()
    draws = np.random.default_rng(0).normal(size=(500, 4))
    plot_curve_band(ax, np.arange(4), draws, label="m")
    line = ax.lines[0].get_ydata()
    np.testing.assert_allclose(line, np.median(draws, axis=0))
    plt.close(fig)


def test_gallery_figure_only_at_full_scale(monkeypatch):
    from recipes_utils.plotting import save_gallery_figure

    fig, _ax = plt.subplots()
    monkeypatch.setenv("RECIPES_SCALE", "smoke")
    assert save_gallery_figure(fig, "anything") is None
    with pytest.raises(ValueError, match="name must be"):
        save_gallery_figure(fig, "../escape")
    plt.close(fig)
