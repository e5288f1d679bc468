"""Ray–primitive intersection for the synthetic world's renderer: boxes, spheres, cylinders and cones (upright,
turned by a yaw), vectorised over a bundle of rays; each returns the hit distance ``t`` (``inf`` for a miss) and the
surface normal."""

from __future__ import annotations

import math

import numpy as np

from .world import Primitive

__all__ = ["intersect", "EPS"]

EPS = 1e-6

def _rot_y(v: np.ndarray, yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    out = v.copy()
    out[..., 0] = c * v[..., 0] + s * v[..., 2]
    out[..., 2] = -s * v[..., 0] + c * v[..., 2]
    return out


def intersect(prim: Primitive, o: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest hit of rays ``o + t·d`` (``o`` 3 or N×3, ``d`` N×3) with ``prim``: ``t`` (inf on a miss) and N×3
    unit normals in world coordinates (arbitrary where missed). Only hits with ``t > 0`` count."""
    lo = np.broadcast_to(np.asarray(o, dtype=np.float64) - prim.center, d.shape)
    half = prim.half_extents  # raises for an unknown shape
    if prim.shape in ("cube", "pedestal"):  # boxes, turned about y
        t, nl = _box(_rot_y(np.array(lo), -prim.yaw), _rot_y(d, -prim.yaw), half)
        return t, _rot_y(nl, prim.yaw)
    if prim.shape == "sphere":
        return _sphere(lo, d, half[0])
    if prim.shape == "cylinder":
        return _cylinder(lo, d, half[0], half[1])
    return _cone(lo, d, half[0], half[1])


def _box(lo, d, a):
    with np.errstate(divide="ignore", invalid="ignore"):
        dd = np.where(np.abs(d) < 1e-12, 1e-12, d)
        inv = 1.0 / dd
        t1 = (-a - lo) * inv
        t2 = (a - lo) * inv
    tmin = np.minimum(t1, t2)
    tmax = np.maximum(t1, t2)
    axis = np.argmax(tmin, axis=1)
    tnear = np.take_along_axis(tmin, axis[:, None], 1)[:, 0]
    tfar = tmax.min(axis=1)
    hit = (tnear <= tfar) & (tnear > EPS)
    t = np.where(hit, tnear, np.inf)
    n = np.zeros_like(d)
    rows = np.arange(len(d))
    n[rows, axis] = -np.sign(dd[rows, axis])
    return t, n


def _sphere(lo, d, r):
    a = np.einsum("ij,ij->i", d, d)
    b = 2 * np.einsum("ij,ij->i", lo, d)
    c = np.einsum("ij,ij->i", lo, lo) - r * r
    disc = b * b - 4 * a * c
    with np.errstate(invalid="ignore"):
        t = (-b - np.sqrt(disc)) / (2 * a)
    hit = (disc >= 0) & (t > EPS)
    t = np.where(hit, t, np.inf)
    p = lo + np.where(hit, t, 0.0)[:, None] * d
    return t, p / r


def _caps(lo, d, r, hh, cap_r, top: bool):
    """Hits with the disc(s) of radius ``cap_r`` at y = ±hh (top if ``top``; the bottom always)."""
    best = np.full(len(d), np.inf)
    ny = np.zeros(len(d))
    with np.errstate(divide="ignore", invalid="ignore"):
        for y, sign in ((hh, 1.0), (-hh, -1.0)):
            if sign > 0 and not top:
                continue
            t = (y - lo[:, 1]) / d[:, 1]
            px = lo[:, 0] + t * d[:, 0]
            pz = lo[:, 2] + t * d[:, 2]
            ok = (t > EPS) & (px * px + pz * pz <= cap_r * cap_r) & (t < best)
            best = np.where(ok, t, best)
            ny = np.where(ok, sign, ny)
    return best, ny


def _cylinder(lo, d, r, hh):
    a = d[:, 0] ** 2 + d[:, 2] ** 2
    b = 2 * (lo[:, 0] * d[:, 0] + lo[:, 2] * d[:, 2])
    c = lo[:, 0] ** 2 + lo[:, 2] ** 2 - r * r
    disc = b * b - 4 * a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        ts = (-b - np.sqrt(disc)) / (2 * a)
    ys = lo[:, 1] + ts * d[:, 1]
    side = (disc >= 0) & (ts > EPS) & (np.abs(ys) <= hh)
    ts = np.where(side, ts, np.inf)
    tc, ny = _caps(lo, d, r, hh, r, top=True)
    use_cap = tc < ts
    t = np.where(use_cap, tc, ts)
    p = lo + np.where(np.isfinite(t), t, 0.0)[:, None] * d
    n = np.stack([p[:, 0] / r, np.zeros(len(d)), p[:, 2] / r], axis=1)
    n[use_cap] = 0.0
    n[use_cap, 1] = ny[use_cap]
    return t, n


def _cone(lo, d, r, hh):
    k2 = (r / (2 * hh)) ** 2
    w = hh - lo[:, 1]  # apex height above the ray origin's y
    a = d[:, 0] ** 2 + d[:, 2] ** 2 - k2 * d[:, 1] ** 2
    b = 2 * (lo[:, 0] * d[:, 0] + lo[:, 2] * d[:, 2] + k2 * w * d[:, 1])
    c = lo[:, 0] ** 2 + lo[:, 2] ** 2 - k2 * w * w
    disc = b * b - 4 * a * c
    with np.errstate(invalid="ignore", divide="ignore"):
        sq = np.sqrt(np.maximum(disc, 0.0))
        a_safe = np.where(np.abs(a) < 1e-12, 1e-12, a)
        r1 = (-b - sq) / (2 * a_safe)
        r2 = (-b + sq) / (2 * a_safe)
    best = np.full(len(d), np.inf)
    for root in (r1, r2):
        y = lo[:, 1] + root * d[:, 1]
        ok = (disc >= 0) & (root > EPS) & (y >= -hh) & (y <= hh) & (root < best)
        best = np.where(ok, root, best)
    tc, _ = _caps(lo, d, r, hh, r, top=False)
    use_cap = tc < best
    t = np.where(use_cap, tc, best)
    p = lo + np.where(np.isfinite(t), t, 0.0)[:, None] * d
    n = np.stack([p[:, 0], k2 * (hh - p[:, 1]), p[:, 2]], axis=1)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    n[use_cap] = (0.0, -1.0, 0.0)
    return t, n


# ----------------------------------------------------------------------------------------------- rendering


