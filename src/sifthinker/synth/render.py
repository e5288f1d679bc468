"""Analytic ray casting in numpy: exact per-pixel depth, occlusion, simple shading and ground shadows.

Every primitive is intersected only with the rays inside its projected bounding rectangle (vectorised per object);
the nearest hit wins a z-buffer whose values are the camera z (ray ``t`` with ``dir · forward = 1``). From the
buffers come the RGB image, the metric depth, the normalised depth map (docs/method.md: 0 = nearest, 1 = farthest,
sky and ground beyond ``config.far`` clamped) and each object's visible mask, tight box and box-mean depth.

>>> from sifthinker.synth.config import SynthConfig
>>> s = render_scene(SynthConfig(image_size=(64, 48), objects=(2, 3)), 7)
>>> s.rgb.shape, s.rgb.dtype.name, s.depth.shape, s.depth.dtype.name
((48, 64, 3), 'uint8', (48, 64), 'float32')
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from ..depth import box_means, from_metric_depth
from .config import SynthConfig
from .raycast import intersect
from .world import World, box_corners, sample_world

__all__ = ["Scene", "SceneObject", "render_scene", "render_world", "as_rng"]

logger = logging.getLogger(__name__)

SKY_TOP = np.array([0.42, 0.62, 0.90])
SKY_HORIZON = np.array([0.86, 0.90, 0.95])
GROUND_LIGHT = np.array([0.80, 0.77, 0.71])
GROUND_DARK = np.array([0.52, 0.50, 0.47])
TILE = 1.0


@dataclass
class SceneObject:
    """An object of a rendered scene: its scene-graph facts and what the camera sees of it.

    ``box`` is the tight visible box in pixels ``(c0, r0, c1, r1)`` (end-exclusive) and ``box_norm`` the same
    normalised (``x1 = c0/W``, ``x2 = c1/W``, …), rounded to 3 decimals as written in records; ``depth`` is the
    box-mean of the normalised map over ``box_norm`` (None when nothing is visible). ``distance`` is the Euclidean
    distance from the camera centre to the object's centre; ``cam_position`` the centre in camera coordinates
    (x right, y up, z forward). ``askable``: visible enough to be asked about.
    """

    id: int
    shape: str
    colour: str
    size_class: str
    size: float
    position: tuple[float, float, float]  # world centre (x, y, z)
    cam_position: tuple[float, float, float]
    elevation: float
    support: str
    distance: float
    mask: np.ndarray  # H×W bool, visible pixels
    n_visible: int
    n_unoccluded: int
    box: tuple[int, int, int, int] | None
    box_norm: tuple[float, float, float, float] | None
    depth: float | None
    askable: bool

    @property
    def visible_frac(self) -> float:
        return self.n_visible / self.n_unoccluded if self.n_unoccluded else 0.0

    @property
    def name(self) -> str:
        """``"red cube"``: colour + shape."""
        return f"{self.colour} {self.shape}"

    def to_json(self) -> dict:
        """The record's per-object entry (3-decimal numbers, box normalised)."""
        return {
            "id": self.id,
            "colour": self.colour,
            "shape": self.shape,
            "size": self.size_class,
            "box": list(self.box_norm) if self.box_norm else None,
            "depth": None if self.depth is None else round(self.depth, 3),
            "position": [round(v, 3) for v in self.position],
            "camera_position": [round(v, 3) for v in self.cam_position],
            "distance": round(self.distance, 3),
            "elevation": round(self.elevation, 3),
            "support": self.support,
            "visible_fraction": round(self.visible_frac, 3),
            "askable": self.askable,
        }


@dataclass
class Scene:
    """A rendered scene: images, depth and objects (in sampling order; ``objects[i].id == i``)."""

    rgb: np.ndarray  # H×W×3 uint8
    depth: np.ndarray  # H×W float32, normalised (0 = nearest)
    metric_depth: np.ndarray  # H×W float32 camera z, inf for sky
    ids: np.ndarray  # H×W int16: object index, -2 pedestal, -1 ground, -3 sky
    objects: list[SceneObject]
    world: World

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]


def as_rng(rng_or_seed) -> np.random.Generator:
    """A numpy ``Generator`` from a Generator, an int seed or a sequence of ints (e.g. ``(seed, index)``)."""
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    if isinstance(rng_or_seed, (int, np.integer)):
        return np.random.default_rng(int(rng_or_seed))
    if isinstance(rng_or_seed, (tuple, list)):
        return np.random.default_rng([int(v) for v in rng_or_seed])
    raise TypeError(f"expected a numpy Generator, an int or a tuple of ints, got {type(rng_or_seed).__name__}")


def _shade(rgb, n, view, light, ambient=0.38):
    """Lambert + hemispheric ambient + a small Blinn–Phong highlight."""
    ndl = np.clip(n @ light, 0.0, 1.0)
    amb = ambient * (0.75 + 0.25 * n[:, 1])
    h = light[None, :] + view
    h /= np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)
    spec = 0.22 * np.clip(np.einsum("ij,ij->i", n, h), 0, 1) ** 40
    return np.asarray(rgb)[None, :] * (amb + 0.72 * ndl)[:, None] + spec[:, None]


def _checker(u, v, wu, wv):
    """Box-filtered checkerboard (1 = light tile) in tile units, footprints ``wu``, ``wv`` (no aliasing)."""

    def tri(x, w):
        a = np.abs(np.mod((x - 0.5 * w) * 0.5, 1.0) - 0.5)
        b = np.abs(np.mod((x + 0.5 * w) * 0.5, 1.0) - 0.5)
        return 2.0 * (a - b) / w

    return 0.5 - 0.5 * tri(u, wu) * tri(v, wv)


def render_world(world: World, cfg: SynthConfig) -> Scene:
    """Ray-cast a sampled :class:`World` into a :class:`Scene`."""
    cam = world.camera
    w, h = cam.width, cam.height
    dirs = cam.ray_dirs()
    o = cam.origin
    with np.errstate(divide="ignore"):
        zbuf = np.where(dirs[..., 1] < -1e-9, -o[1] / dirs[..., 1], np.inf)  # the ground plane, else sky
    ids = np.where(np.isfinite(zbuf), -1, -3).astype(np.int16)
    col = np.zeros((h, w, 3))
    n_unocc = {}
    for prim in world.primitives:
        rect = cam.rect_of_box(*prim.aabb())
        if rect is None:
            n_unocc[prim.index] = 0
            continue
        c0, r0, c1, r1 = rect
        dsub = dirs[r0:r1, c0:c1].reshape(-1, 3)
        t, n = intersect(prim, o, dsub)
        hit = np.isfinite(t)
        if prim.index >= 0:
            n_unocc[prim.index] = int(hit.sum())
        zsub = zbuf[r0:r1, c0:c1].reshape(-1)
        win = hit & (t < zsub)
        if not win.any():
            continue
        view = -dsub[win] / np.linalg.norm(dsub[win], axis=1, keepdims=True)
        win2 = win.reshape(r1 - r0, c1 - c0)  # the slices below are views: masked writes land in the buffers
        zbuf[r0:r1, c0:c1][win2] = t[win]
        ids[r0:r1, c0:c1][win2] = prim.index if prim.index >= 0 else -2
        col[r0:r1, c0:c1][win2] = _shade(prim.rgb, n[win], view, world.light)

    _shade_background(world, cfg, dirs, zbuf, ids, col)
    rgb = np.clip(col * 255.0 + 0.5, 0, 255).astype(np.uint8)
    metric = zbuf.astype(np.float32)
    depth = from_metric_depth(zbuf, far=cfg.far)
    objects = _measure_objects(world, cfg, ids, depth, n_unocc)
    return Scene(rgb, depth, metric, ids, objects, world)


def _shade_background(world: World, cfg: SynthConfig, dirs, zbuf, ids, col) -> None:
    cam = world.camera
    o = cam.origin
    dnorm = np.linalg.norm(dirs, axis=-1)
    sky = ids == -3
    elev = np.clip(dirs[..., 1] / dnorm, 0.0, 1.0)[sky]
    g = np.sqrt(elev)[:, None]
    col[sky] = SKY_HORIZON * (1 - g) + SKY_TOP * g

    ground = ids == -1
    gd = dirs[ground]
    t = zbuf[ground]
    p = o + t[:, None] * gd
    dist = t * dnorm[ground]
    sin_g = np.abs(gd[:, 1]) / dnorm[ground]
    wu = np.maximum(dist / cam.fx / TILE, 1e-4)
    wv = np.maximum(wu / np.maximum(sin_g, 0.05), 1e-4)
    chk = _checker(p[:, 0] / TILE + 0.5, p[:, 2] / TILE, wu, wv)[:, None]
    base = GROUND_DARK * (1 - chk) + GROUND_LIGHT * chk
    shade = np.full(len(t), 0.62 + 0.38 * float(world.light[1]))
    # shadows: a ray from the ground point towards the light blocked by any solid
    shadow = np.zeros(len(t), dtype=bool)
    idx = np.flatnonzero(ground.reshape(-1))
    rows, cols = np.divmod(idx, cam.width)
    L = world.light
    for prim in world.primitives:
        lo, hi = prim.aabb()
        # the AABB's shadow on the ground: its corners pushed along -L down to y = 0
        corners = box_corners(lo, hi)
        foot = corners - (corners[:, 1] / L[1])[:, None] * L[None, :]
        rect = cam.rect_of_box(np.minimum(foot.min(0), lo), np.maximum(foot.max(0), hi))
        if rect is None:
            continue
        c0, r0, c1, r1 = rect
        cand = (~shadow) & (rows >= r0) & (rows < r1) & (cols >= c0) & (cols < c1)
        if not cand.any():
            continue
        ts, _ = intersect(prim, p[cand], np.broadcast_to(L, (int(cand.sum()), 3)).copy())
        shadow[np.flatnonzero(cand)[np.isfinite(ts)]] = True
    shade[shadow] *= 0.55
    c = base * shade[:, None]
    fog = np.clip((dist - 9.0) / 40.0, 0.0, 0.6)[:, None]
    col[ground] = c * (1 - fog) + SKY_HORIZON * fog


def _measure_objects(world: World, cfg: SynthConfig, ids, depth, n_unocc) -> list[SceneObject]:
    h, w = ids.shape
    cam = world.camera
    out = []
    boxes_norm = []
    for prim in world.objects:
        mask = ids == prim.index
        nv = int(mask.sum())
        box = bnorm = None
        if nv:
            rs = np.flatnonzero(mask.any(axis=1))
            cs = np.flatnonzero(mask.any(axis=0))
            box = (int(cs[0]), int(rs[0]), int(cs[-1]) + 1, int(rs[-1]) + 1)
            bnorm = _round_box(box, w, h)
        boxes_norm.append(bnorm)
        nu = max(int(n_unocc.get(prim.index, 0)), nv)
        askable = nv >= cfg.min_visible_px and nv >= cfg.min_visible_frac * nu
        cp = cam.to_camera(prim.center)
        out.append(
            SceneObject(
                id=prim.index,
                shape=prim.shape,
                colour=prim.colour,
                size_class=prim.size_class,
                size=prim.size,
                position=tuple(float(v) for v in prim.center),
                cam_position=tuple(float(v) for v in cp),
                elevation=prim.elevation,
                support=prim.support,
                distance=float(np.linalg.norm(prim.center - cam.origin)),
                mask=mask,
                n_visible=nv,
                n_unoccluded=nu,
                box=box,
                box_norm=bnorm,
                depth=None,
                askable=bool(askable),
            )
        )
    have = [i for i, b in enumerate(boxes_norm) if b is not None]
    if have:
        means = box_means(depth, [boxes_norm[i] for i in have])
        for i, m in zip(have, means, strict=True):
            out[i].depth = float(m)
    return out


def _round_box(box, w, h) -> tuple[float, float, float, float]:
    """Pixel box → normalised, rounded to 3 decimals, never degenerate."""
    x1, y1, x2, y2 = round(box[0] / w, 3), round(box[1] / h, 3), round(box[2] / w, 3), round(box[3] / h, 3)
    if x2 <= x1:
        x2 = min(1.0, round(x1 + 0.001, 3))
        x1 = min(x1, round(x2 - 0.001, 3))
    if y2 <= y1:
        y2 = min(1.0, round(y1 + 0.001, 3))
        y1 = min(y1, round(y2 - 0.001, 3))
    return (x1, y1, x2, y2)


def render_scene(config: SynthConfig, rng_or_seed) -> Scene:
    """Sample a world from ``config`` with ``rng_or_seed`` (Generator, int, or ``(seed, index)``) and render it."""
    rng = as_rng(rng_or_seed)
    world = sample_world(config, rng)
    return render_world(world, config)
