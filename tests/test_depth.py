"""Depth maps: convention, box means (docs/method.md), lossless files, colourisation and its decoder."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image
from strategies import float_boxes

from sifthinker import depth as D


def reference_mean(arr, box):
    """The formula of docs/method.md, written out independently."""
    h, w = arr.shape
    x1, y1, x2, y2 = box
    c0, c1 = max(0, math.floor(x1 * w)), min(w, math.ceil(x2 * w))
    r0, r1 = max(0, math.floor(y1 * h)), min(h, math.ceil(y2 * h))
    return float(np.asarray(arr, dtype=np.float64)[r0:r1, c0:c1].mean())


def test_inverse_depth_convention():
    raw = np.array([[10.0, 5.0], [0.0, 2.5]])  # large = near
    d = D.from_inverse_depth(raw)
    assert d.dtype == np.float32
    assert d[0, 0] == 0.0 and d[1, 0] == 1.0  # nearest → 0, farthest → 1
    assert d[0, 1] == pytest.approx(0.5) and d[1, 1] == pytest.approx(0.75)
    assert (D.from_inverse_depth(np.full((3, 3), 7.0)) == 0).all()
    with pytest.raises(ValueError, match="NaN"):
        D.from_inverse_depth(np.array([[1.0, np.nan]]))


def test_metric_depth_convention_and_far_clamp():
    z = np.array([[1.0, 2.0], [np.inf, 100.0]])
    d = D.from_metric_depth(z, far=5.0)
    assert d[0, 0] == 0.0 and d[1, 0] == 1.0 and d[1, 1] == 1.0
    assert d[0, 1] == pytest.approx(0.25)


def test_box_mean_pixel_rule():
    arr = np.arange(40, dtype=np.float32).reshape(4, 10) / 39
    # columns floor(0.25*10)=2 .. ceil(0.52*10)-1=5; rows floor(0.3*4)=1 .. ceil(0.6*4)-1=2
    assert D.box_pixel_rect((0.25, 0.3, 0.52, 0.6), 10, 4) == (2, 1, 6, 3)
    assert D.box_mean(arr, (0.25, 0.3, 0.52, 0.6)) == pytest.approx(float(arr[1:3, 2:6].mean()))
    assert D.box_mean(arr, (0, 0, 1, 1)) == pytest.approx(float(arr.mean()))
    # a box thinner than a pixel still covers the pixel it lies in
    assert D.box_mean(arr, (0.51, 0.51, 0.52, 0.52)) == pytest.approx(float(arr[2, 5]))
    # an empty rectangle is NaN, never a silent 0
    assert math.isnan(D.box_mean(arr, (0.5, 0.5, 0.5, 0.9)))
    # outside the image: clipped
    assert D.box_mean(arr, (-0.5, -1, 0.1, 2)) == pytest.approx(float(arr[:, 0:1].mean()))


@given(
    arrays(np.float32, st.tuples(st.integers(1, 40), st.integers(1, 40)), elements=st.floats(0, 1, width=32)),
    st.lists(float_boxes, min_size=1, max_size=10),
)
def test_box_mean_equals_numpy_slice_mean(arr, bs):
    dm = D.DepthMap(arr)
    vec = D.box_means(arr, bs)  # a few boxes: the per-box loop on the integral image
    arr_vec = D.box_means(arr, np.asarray(bs, dtype=np.float64))  # an array: the vectorised path
    for b, v, av in zip(bs, vec, arr_vec):
        ref = reference_mean(arr, b)
        assert D.box_mean(arr, b) == pytest.approx(ref, abs=1e-9) or (
            math.isnan(ref) and math.isnan(D.box_mean(arr, b))
        )
        if math.isnan(ref):
            assert math.isnan(v) and math.isnan(av) and math.isnan(dm.box_mean(b))
        else:
            assert v == pytest.approx(ref, abs=1e-9)
            assert av == pytest.approx(ref, abs=1e-9)
            assert dm.box_mean(b) == pytest.approx(ref, abs=1e-9)


def test_box_means_handles_garbage_boxes():
    arr = np.full((5, 5), 0.5, dtype=np.float32)
    garbage = [(np.nan, 0, 1, 1), (0, 0, np.inf, 1), (-np.inf, -np.inf, 1e300, 1e300), (1, 1, 0, 0)]
    for bs in (garbage, np.asarray(garbage)):  # the per-box loop and the vectorised path
        out = D.box_means(arr, bs)
        assert out[1] == 0.5 and out[2] == 0.5 and math.isnan(out[3])
        assert out[0] == 0.5  # NaN coordinates are read as 0


def test_validate_depth_errors():
    with pytest.raises(ValueError, match="2-D"):
        D.validate_depth(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        D.validate_depth(np.full((2, 2), 1.5))
    with pytest.raises(ValueError, match="NaN"):
        D.validate_depth(np.array([[0.1, np.nan]]))
    with pytest.raises(ValueError, match="numeric"):
        D.validate_depth(np.array([["a", "b"]]))


def test_depthmap_is_read_only_and_cached():
    dm = D.DepthMap(np.random.default_rng(0).random((6, 7)))
    assert dm.array.dtype == np.float32 and dm.shape == (6, 7)
    with pytest.raises(ValueError):
        dm.array[0, 0] = 1.0
    assert dm.integral is dm.integral


@pytest.mark.parametrize("suffix, tol", [(".npy", 0.0), (".png", 0.5 / 65535 + 1e-7)])
def test_lossless_round_trip(tmp_path, suffix, tol):
    arr = np.random.default_rng(1).random((17, 23)).astype(np.float32)
    p = D.save_depth(arr, tmp_path / f"d{suffix}")
    back = D.load_depth(p)
    assert back.shape == arr.shape and back.dtype == np.float32
    assert np.abs(back - arr).max() <= tol
    if suffix == ".png":
        with Image.open(p) as im:
            assert im.mode.startswith("I;16")
    assert not list(tmp_path.glob(".*tmp*"))  # the temporary file was renamed away


def test_save_rejects_unknown_format_and_bad_maps(tmp_path):
    with pytest.raises(ValueError, match="unknown depth format"):
        D.save_depth(np.zeros((2, 2)), tmp_path / "d.jpg")
    with pytest.raises(ValueError):
        D.save_depth(np.full((2, 2), 2.0), tmp_path / "d.npy")
    assert not (tmp_path / "d.npy").exists()


def test_load_refuses_colourised_png(tmp_path):
    D.save_colourised(np.zeros((4, 4)), tmp_path / "c.png")
    with pytest.raises(ValueError, match="decode_colourised"):
        D.load_depth(tmp_path / "c.png")


def test_colourise_near_red_far_blue():
    img = D.colourise(np.array([[0.0, 1.0]]))
    assert img.shape == (1, 2, 3) and img.dtype == np.uint8
    near, far = img[0, 0].astype(int), img[0, 1].astype(int)
    assert near[0] > near[2]  # red-ish
    assert far[2] > far[0]  # blue/violet-ish
    assert len(D.spectral_palette()) == 256


def test_decode_colourised_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    arr = rng.random((32, 48)).astype(np.float32)
    p = D.save_colourised(arr, tmp_path / "c.png")
    back = D.decode_colourised(p)
    assert back.shape == arr.shape and back.dtype == np.float32
    assert np.abs(back - arr).max() <= 0.5 / 255 + 1e-6  # 256 palette levels
    # an in-memory array decodes the same; slightly perturbed colours (JPEG-like noise) snap to the palette
    noisy = np.clip(D.colourise(arr).astype(int) + rng.integers(-2, 3, size=(32, 48, 3)), 0, 255).astype(np.uint8)
    assert np.abs(D.decode_colourised(noisy) - arr).max() <= 0.05


def test_decode_refuses_greyscale(tmp_path):
    Image.fromarray(np.zeros((4, 4), dtype=np.uint8)).save(tmp_path / "g.png")
    with pytest.raises(ValueError, match="RGB"):
        D.decode_colourised(tmp_path / "g.png")


def test_cached_depth_map_reloads_when_file_changes(tmp_path):
    p = tmp_path / "d.npy"
    D.save_depth(np.zeros((3, 3)), p)
    a = D.cached_depth_map(p)
    assert D.cached_depth_map(p) is a
    D.save_depth(np.ones((4, 4)), p)
    b = D.cached_depth_map(p)
    assert b.shape == (4, 4) and b.box_mean((0, 0, 1, 1)) == 1.0
