"""The synthetic world: rendering geometry, masks and boxes, depth, questions checked by an independent oracle."""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sifthinker.answers import LETTERS
from sifthinker.boxes import validate_box
from sifthinker.depth import box_mean, box_pixel_rect, validate_depth
from sifthinker.synth import QUESTION_TYPES, SynthConfig, make_questions, render_scene
from sifthinker.synth.config import PALETTE
from sifthinker.synth.questions import _mc
from sifthinker.synth.raycast import intersect
from sifthinker.synth.world import Primitive

SMALL = SynthConfig(image_size=(128, 128), objects=(3, 6))


def scenes(cfg: SynthConfig, n: int, seed: int = 0):
    """(scene, questions) for scenes 0..n-1, drawn as the dataset draws them."""
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        sc = render_scene(cfg, rng)
        yield sc, make_questions(sc, rng, cfg)


@pytest.fixture(scope="module")
def corpus():
    """A few hundred questions at 128×128 (shared by the oracle and balance tests)."""
    cfg = SynthConfig(image_size=(128, 128), objects=(3, 7), questions_per_scene=(2, 3), raised_fraction=0.4)
    return cfg, list(scenes(cfg, 260, seed=11))


# ------------------------------------------------------------------------------------------------ geometry


def _prim(shape, size=1.0, center=(0.0, 0.5, 5.0), yaw=0.0):
    return Primitive(0, shape, "red", (1, 0, 0), "large", size, np.array(center, dtype=float), yaw)


@pytest.mark.parametrize(
    "shape,expected_t",
    [("sphere", 4.5), ("cube", 4.5), ("cylinder", 4.55), ("cone", 4.5)],
)
def test_ray_along_z_hits_front_surface(shape, expected_t):
    # a ray along +z at the centre's height hits the front of the solid at z = 5 - half depth
    o = np.array([0.0, 0.5, 0.0])
    d = np.array([[0.0, 0.0, 1.0]])
    t, n = intersect(_prim(shape), o, d)
    if shape == "cone":  # at the centre height the cone's radius is 0.5 * (0.55 / 1.1) = 0.25
        expected_t = 5.0 - 0.25
    assert t[0] == pytest.approx(expected_t, abs=1e-9)
    assert n[0] == pytest.approx([0.0, 0.0, -1.0] if shape != "cone" else n[0])
    assert n[0][2] < 0  # facing the ray


def test_ray_from_above_hits_top():
    o = np.array([0.0, 10.0, 5.0])
    d = np.array([[0.0, -1.0, 0.0]])
    for shape, top in (("cube", 1.0), ("sphere", 1.0), ("cylinder", 1.0), ("cone", 0.5 + 0.55)):
        t, n = intersect(_prim(shape), o, d)
        assert t[0] == pytest.approx(10.0 - top, abs=1e-6), shape  # the apex is a double root
        assert n[0][1] > 0.4, shape


def test_misses_and_rotation():
    o = np.array([0.0, 0.5, 0.0])
    d = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])  # sideways and backwards: no hit
    for shape in ("cube", "sphere", "cylinder", "cone"):
        t, _ = intersect(_prim(shape), o, d)
        assert np.isinf(t).all(), shape
    # a cube turned 45°: its front edge sticks out by (sqrt(2) - 1) / 2
    t, _ = intersect(_prim("cube", yaw=math.pi / 4), o, np.array([[0.0, 0.0, 1.0]]))
    assert t[0] == pytest.approx(5.0 - math.sqrt(2) / 2, abs=1e-9)


# --------------------------------------------------------------------------------------- masks, boxes, depth


def test_boxes_agree_with_masks():
    checked = 0
    for sc, _ in scenes(SMALL, 12):
        h, w = sc.depth.shape
        union = np.zeros((h, w), dtype=int)
        for o in sc.objects:
            assert o.n_visible == int(o.mask.sum())
            assert (o.mask == (sc.ids == o.id)).all()
            union += o.mask
            if o.n_visible == 0:
                assert o.box is None and o.box_norm is None and not o.askable
                continue
            rows, cols = np.nonzero(o.mask)
            assert o.box == (cols.min(), rows.min(), cols.max() + 1, rows.max() + 1)
            x1, y1, x2, y2 = validate_box(o.box_norm)
            assert (x1, y1, x2, y2) == tuple(
                round(v, 3) for v in (o.box[0] / w, o.box[1] / h, o.box[2] / w, o.box[3] / h)
            )
            # the §3 pixel rectangle of the written box covers the whole mask
            c0, r0, c1, r1 = box_pixel_rect(o.box_norm, w, h)
            assert c0 <= cols.min() and cols.max() < c1 and r0 <= rows.min() and rows.max() < r1
            assert o.depth == pytest.approx(box_mean(sc.depth, o.box_norm), abs=1e-9)
            assert o.n_unoccluded >= o.n_visible
            checked += 1
        assert union.max() <= 1  # visible masks are disjoint
    assert checked > 30


def test_depth_map_convention():
    for sc, _ in scenes(SMALL, 6):
        d = validate_depth(sc.depth)
        assert d.dtype == np.float32 and d.min() == 0.0 and d.max() == 1.0
        sky = ~np.isfinite(sc.metric_depth)
        assert sky.any() and (d[sky] == 1.0).all()  # sky is farthest
        fin = np.isfinite(sc.metric_depth) & (sc.metric_depth < SMALL.far)
        z, dd = sc.metric_depth[fin], d[fin]
        order = np.argsort(z, kind="stable")
        assert (np.diff(dd[order]) >= -1e-6).all()  # monotone in camera z: 0 = nearest
        # objects sit in front of the ground behind them and spread over a useful part of [0, 1]
        deps = [o.depth for o in sc.objects if o.depth is not None]
        assert 0.0 <= min(deps) and max(deps) < 0.95


def test_nearer_objects_have_smaller_box_depth():
    agree = total = 0
    for sc, _ in scenes(SMALL, 40, seed=3):
        vis = [o for o in sc.objects if o.askable and o.visible_frac > 0.95]
        for a in vis:
            for b in vis:
                if a.distance * 1.3 < b.distance:
                    total += 1
                    agree += a.depth < b.depth
    assert total > 50
    assert agree / total > 0.97


def test_rendering_is_deterministic_and_seed_dependent():
    a = render_scene(SMALL, (5, 17))
    b = render_scene(SMALL, (5, 17))
    c = render_scene(SMALL, (6, 17))
    assert a.rgb.tobytes() == b.rgb.tobytes() and a.depth.tobytes() == b.depth.tobytes()
    assert a.rgb.tobytes() != c.rgb.tobytes()


def test_image_shows_the_scene():
    sc = render_scene(SynthConfig(image_size=(160, 120), objects=(4, 4), raised_fraction=0.0), 2)
    assert sc.rgb.shape == (120, 160, 3)
    # objects carry their palette hue: the mean colour of a visible mask is closest to its own palette colour
    for o in sc.objects:
        if o.n_visible < 40:
            continue
        mean = sc.rgb[o.mask].mean(axis=0) / 255
        hue = mean / max(mean.max(), 1e-6)
        dist = {k: np.linalg.norm(hue - np.array(v) / max(v)) for k, v in PALETTE.items()}
        assert min(dist, key=dist.get) == o.colour
    # the ground has a checker texture: rows near the bottom have both light and dark tiles
    bottom = sc.rgb[-5:].astype(int).sum(axis=2)
    assert bottom.max() - bottom.min() > 120
    assert (sc.ids == -3).any() and (sc.ids == -1).any()


def test_raised_objects_and_pedestals():
    cfg = SynthConfig(image_size=(128, 128), objects=(4, 4), raised_fraction=1.0, pedestal_prob=0.5)
    supports = Counter()
    for sc, _ in scenes(cfg, 8):
        for o in sc.objects:
            supports[o.support] += 1
            assert o.elevation >= 0.6
        assert len(sc.world.pedestals) == sum(o.support == "pedestal" for o in sc.objects)
        if sc.world.pedestals:
            assert (sc.ids == -2).any()
    assert supports["pedestal"] and supports["floating"] and not supports["ground"]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    w=st.integers(32, 120),
    h=st.integers(32, 120),
    lo=st.integers(1, 8),
    extra=st.integers(0, 4),
    occ=st.floats(0.0, 1.0),
)
def test_any_seed_renders_valid_scene(seed, w, h, lo, extra, occ):
    cfg = SynthConfig(image_size=(w, h), objects=(lo, min(lo + extra, 12)), occlusion=occ)
    rng = np.random.default_rng(seed)
    sc = render_scene(cfg, rng)
    assert sc.rgb.shape == (h, w, 3) and sc.depth.shape == (h, w)
    validate_depth(sc.depth)
    assert 1 <= len(sc.objects) <= cfg.objects[1]
    for o in sc.objects:
        if o.box_norm is not None:
            validate_box(o.box_norm)
    for q in make_questions(sc, rng, cfg):
        assert q.evidence and len(q.boxes) == len(q.evidence)
        for b in q.boxes:
            validate_box(b)
        assert all(sc.objects[i].askable for i in q.evidence)


# ------------------------------------------------------------------------------------- questions vs oracle


def _by_name(sc, phrase):
    m = re.fullmatch(r"the (\w+) (\w+)", phrase)
    hits = [o for o in sc.objects if o.colour == m.group(1) and o.shape == m.group(2)]
    assert len(hits) == 1, phrase  # names are unambiguous
    return hits[0]


def _truth(sc, q):
    """Answer the question from the scene graph alone (an independent oracle), as text."""
    p = q.problem
    objs = sc.objects
    if q.qtype == "depth_order":
        if q.answer_type == "yesno":
            m = re.fullmatch(r"Is (the \w+ \w+) (closer to|farther from) the camera than (the \w+ \w+)\?", p)
            a, b = _by_name(sc, m.group(1)), _by_name(sc, m.group(3))
            closer = a.distance < b.distance
            # box-mean depths of the map agree with the true order
            assert (a.depth < b.depth) == closer
            return "yes" if closer == (m.group(2) == "closer to") else "no"
        opts = [_by_name(sc, c) for c in q.choices]
        key = min if re.search(r"closer|closest", p) else max
        best = key(opts, key=lambda o: o.distance)
        assert key(opts, key=lambda o: o.depth) is best  # the map agrees
        return f"the {best.name}"
    if q.qtype == "relation_2d":
        if q.answer_type == "yesno":
            m = re.fullmatch(
                r"In the image, is (the \w+ \w+) (to the left of|to the right of|above|below) "
                r"(the \w+ \w+)\?",
                p,
            )
            a, b = _by_name(sc, m.group(1)).box_norm, _by_name(sc, m.group(3)).box_norm
            rel = {
                "to the left of": a[2] <= b[0],
                "to the right of": a[0] >= b[2],
                "above": a[3] <= b[1],
                "below": a[1] >= b[3],
            }[m.group(2)]
            opposite = {
                "to the left of": a[0] >= b[2],
                "to the right of": a[2] <= b[0],
                "above": a[1] >= b[3],
                "below": a[3] <= b[1],
            }[m.group(2)]
            assert rel != opposite  # never ambiguous
            return "yes" if rel else "no"
        opts = [_by_name(sc, c) for c in q.choices]
        word = re.search(r"appears (farther left|farther right|higher up|lower down)", p).group(1)
        pick = {
            "farther left": lambda o: -o.box_norm[2],
            "farther right": lambda o: o.box_norm[0],
            "higher up": lambda o: -o.box_norm[3],
            "lower down": lambda o: o.box_norm[1],
        }[word]
        best = max(opts, key=pick)
        assert all(o is best or pick(best) > pick(o) for o in opts)
        return f"the {best.name}"
    if q.qtype == "counting":
        m = re.fullmatch(r"How many (.+) are there(?: in the scene)?\?", p)
        words = m.group(1).split()  # "red objects", "cubes", "red cubes", "objects"
        colour = words[0] if words[0] in PALETTE else None
        shape = words[-1][:-1] if words[-1] != "objects" else None  # plural -> singular
        n = sum((colour is None or o.colour == colour) and (shape is None or o.shape == shape) for o in objs)
        assert len(q.evidence) == n
        return str(n)
    if q.qtype == "existence":
        m = re.fullmatch(r"Is there an? (\w+) (\w+) in the image\?", p)
        present = any(o.colour == m.group(1) and o.shape == m.group(2) for o in objs)
        return "yes" if present else "no"
    if q.qtype == "size_3d":
        if q.answer_type == "yesno":
            m = re.fullmatch(r"Is (the \w+ \w+) physically (larger|smaller) than (the \w+ \w+) in 3-D.*", p)
            a, b = _by_name(sc, m.group(1)), _by_name(sc, m.group(3))
            return "yes" if (a.size > b.size) == (m.group(2) == "larger") else "no"
        opts = [_by_name(sc, c) for c in q.choices]
        key = max if "larger" in p else min
        return f"the {key(opts, key=lambda o: o.size).name}"
    if q.qtype == "nearest_object":
        ref = _by_name(sc, re.search(r"closest to (the \w+ \w+) in 3-D", p).group(1))
        opts = [_by_name(sc, c) for c in q.choices]
        dist = [np.linalg.norm(np.subtract(o.position, ref.position)) for o in opts]
        return f"the {opts[int(np.argmin(dist))].name}"
    if q.qtype == "attribute":
        m = re.fullmatch(r"What (colour|shape) is the (.+)\?", p)
        what, subject = m.groups()
        if subject.startswith("object closest"):
            target = min(objs, key=lambda o: o.distance)
        elif subject.startswith("object farthest"):
            target = max(objs, key=lambda o: o.distance)
        elif subject.endswith(" object"):
            (target,) = [o for o in objs if o.colour == subject.split()[0]]
        else:
            (target,) = [o for o in objs if o.shape == subject]
        return target.colour if what == "colour" else target.shape
    raise AssertionError(f"unknown type {q.qtype}")


def test_answers_agree_with_the_scene_graph(corpus):
    _, data = corpus
    seen = Counter()
    for sc, qs in data:
        assert len({q.qtype for q in qs}) == len(qs)  # distinct types in a scene
        for q in qs:
            assert _truth(sc, q) == q.answer_text, (q.problem, q.choices, q.answer)
            assert q.evidence and all(sc.objects[i].askable for i in q.evidence)
            assert q.boxes == [sc.objects[i].box_norm for i in q.evidence]
            seen[q.qtype] += 1
    assert set(seen) == set(QUESTION_TYPES), seen
    assert min(seen.values()) >= 15


def test_size_questions_include_misleading_perspective(corpus):
    _, data = corpus
    size_qs = [(sc, q) for sc, qs in data for q in qs if q.qtype == "size_3d"]
    misled = [q for _, q in size_qs if q.meta.get("misleading")]
    assert len(misled) >= 0.2 * len(size_qs) > 0  # preferred whenever a scene has such a pair
    for sc, q in size_qs:
        if q.meta.get("misleading"):
            big, small = sorted((sc.objects[i] for i in q.evidence), key=lambda o: -o.size)
            assert big.distance > small.distance and big.n_unoccluded < small.n_unoccluded


def test_answers_are_balanced(corpus):
    _, data = corpus
    qs = [q for _, qs in data for q in qs]
    yn = Counter(q.answer for q in qs if q.answer_type == "yesno")
    n = sum(yn.values())
    assert n >= 100 and set(yn) == {"yes", "no"}
    assert abs(yn["yes"] - n / 2) <= 4 * math.sqrt(n / 4) + 1  # 4 sigma: no yes/no bias
    by_k: dict[int, Counter] = {}
    for q in qs:
        if q.answer_type == "mc":
            assert 2 <= len(q.choices) <= 4 and len(set(q.choices)) == len(q.choices)
            by_k.setdefault(len(q.choices), Counter())[q.answer] += 1
    assert sum(sum(c.values()) for c in by_k.values()) >= 100
    for k, c in by_k.items():
        m = sum(c.values())
        if m < 30:
            continue
        p = 1 / k
        for letter in LETTERS[:k]:
            assert abs(c[letter] - m * p) <= 4 * math.sqrt(m * p * (1 - p)) + 1, (k, c)


def test_option_shuffle_is_uniform():
    rng = np.random.default_rng(0)
    for k in (2, 3, 4):
        c = Counter(_mc(rng, "right", [f"wrong{i}" for i in range(k - 1)])[1] for _ in range(4000))
        expected = 4000 / k
        chi2 = sum((c[x] - expected) ** 2 / expected for x in LETTERS[:k])
        assert set(c) == set(LETTERS[:k]) and chi2 < 25  # df <= 3: p < 1e-4 at 25


def test_almost_hidden_objects_are_not_asked_about():
    cfg = SynthConfig(image_size=(128, 128), objects=(6, 8), occlusion=1.0)
    hidden = 0
    for sc, qs in scenes(cfg, 25, seed=4):
        for o in sc.objects:
            if o.askable:
                assert o.n_visible >= cfg.min_visible_px and o.visible_frac >= cfg.min_visible_frac
            else:
                hidden += 1
        for q in qs:
            assert all(sc.objects[i].askable for i in q.evidence)
            names = re.findall(r"the (\w+) (\w+)", q.problem + " " + " ".join(q.choices or []))
            for colour, shape in names:
                if colour in cfg.colours and shape in cfg.shapes:
                    (o,) = [o for o in sc.objects if o.name == f"{colour} {shape}"]
                    assert o.askable
    assert hidden > 0  # the setting does hide some objects


def test_question_types_and_count_knobs():
    cfg = SynthConfig(image_size=(96, 96), question_types=("counting", "existence"), questions_per_scene=(1, 1))
    for _, qs in scenes(cfg, 10):
        assert len(qs) <= 1
        assert all(q.qtype in ("counting", "existence") for q in qs)
    cfg0 = SynthConfig(image_size=(96, 96), questions_per_scene=(0, 0))
    assert all(not qs for _, qs in scenes(cfg0, 3))


def test_config_validation_and_round_trip():
    cfg = SynthConfig(image_size=(200, 100), objects=(2, 8), question_types=("counting",), colours=("red", "blue"))
    assert SynthConfig.from_dict(cfg.to_dict()) == cfg
    for bad in (
        dict(objects=(5, 3)),
        dict(occlusion=1.5),
        dict(question_types=("bogus",)),
        dict(colours=("red", "mauve")),
        dict(image_size=(8, 8)),
        dict(max_options=7),
    ):
        with pytest.raises(ValueError):
            SynthConfig(**bad)
