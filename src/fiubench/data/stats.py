"""Dataset statistics: counts, field coverage, answer lengths, face diversity, FID.

Face diversity = mean pairwise Euclidean distance between the faces' encoder
features. The Fréchet distance between two image sets (Heusel et al. 2017,
"GANs Trained by a Two Time-Scale Update Rule ...", the FID when the encoder is
Inception; the paper compares synthetic vs real faces this way) is

    FD = ||mu_1 - mu_2||^2 + Tr(C_1 + C_2 - 2 (C_1 C_2)^{1/2})

with mu, C the mean and covariance of each set's features.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fiubench.data.features import get_encoder, list_images, open_rgb
from fiubench.data.schema import FIUDataset


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature rows ``a`` and ``b``."""
    import scipy.linalg

    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature shapes differ: {a.shape} vs {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least 2 images per set")
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    c1, c2 = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():
        # few images vs many feature dims make C1 C2 singular: expected, handled below
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(c1 @ c2)
    if not np.isfinite(covmean).all():  # singular product: regularise, as in the FID reference code
        eps = np.eye(c1.shape[0]) * 1e-6
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            covmean = scipy.linalg.sqrtm((c1 + eps) @ (c2 + eps))
    covmean = np.real(covmean)
    d = float(((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean))
    return max(d, 0.0)


def mean_pairwise_distance(x: np.ndarray) -> float:
    """Mean Euclidean distance over all unordered pairs of rows."""
    n = len(x)
    if n < 2:
        return 0.0
    x = x.astype(np.float64)
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0)
    iu = np.triu_indices(n, k=1)
    return float(np.sqrt(d2[iu]).mean())


def image_paths(source: Path) -> list[Path]:
    """Images of a dataset folder (via full.json) or of a plain image folder."""
    if (source / "full.json").exists():
        from fiubench.data.load import load_dataset

        return [p.image_path for p in load_dataset(source).identities.values()]
    return list_images(source)


def dataset_stats(ds: FIUDataset, encoder: str = "pixels", max_faces: int = 2000) -> dict[str, Any]:
    qas = [qa for p in ds.identities.values() for qa in p.qa_list]
    words = [len(qa.answer.split()) for qa in qas]
    fields = Counter(qa.field or "unknown" for qa in qas)
    paths = [p.image_path for p in ds.identities.values()][:max_faces]
    feats = get_encoder(encoder)(paths)
    attrs = [p.attributes for p in ds.identities.values() if p.attributes]
    distinct = len({tuple(sorted(a.items())) for a in attrs}) if attrs else None
    return {
        "identities": len(ds.identities),
        "qa": len(qas),
        "visual_qa": len(ds.visual_qa),
        "refusals": len(ds.refusals),
        "splits": {k: len(v) for k, v in ds.splits.items()},
        "field_coverage": {k: v / len(qas) for k, v in sorted(fields.items())},
        "answer_words": {
            "mean": float(np.mean(words)), "min": int(min(words)), "max": int(max(words)),
        },
        "face_diversity": {
            "encoder": encoder,
            "faces": len(paths),
            "mean_pairwise_distance": mean_pairwise_distance(feats),
            "distinct_attribute_combinations": distinct,
        },
    }


def compare_sets(a: Path, b: Path, encoder: str = "pixels", max_faces: int = 2000) -> dict[str, Any]:
    enc = get_encoder(encoder)
    fa, fb = enc(image_paths(a)[:max_faces]), enc(image_paths(b)[:max_faces])
    return {"encoder": encoder, "a": str(a), "b": str(b), "n_a": len(fa), "n_b": len(fb),
            "frechet_distance": frechet_distance(fa, fb)}


def face_grid(paths: list[Path], n: int = 32, cell: int = 96) -> Image.Image:
    """The first ``n`` faces tiled in a near-square grid, each ``cell`` px."""
    paths = paths[:n]
    cols = math.ceil(math.sqrt(len(paths) * 2))  # wider than tall
    cols = min(cols, len(paths)) or 1
    rows = math.ceil(len(paths) / cols)
    grid = Image.new("RGB", (cols * cell, rows * cell), (255, 255, 255))
    for i, p in enumerate(paths):
        im = open_rgb(p).resize((cell, cell), Image.LANCZOS)
        grid.paste(im, ((i % cols) * cell, (i // cols) * cell))
    return grid


def format_stats(s: dict[str, Any]) -> str:
    lines = [
        f"identities: {s['identities']}  QA: {s['qa']}  visual QA: {s['visual_qa']}  refusals: {s['refusals']}",
        "splits: " + ", ".join(f"{k}={v}" for k, v in s["splits"].items()),
        "answer length (words): mean {mean:.1f}, min {min}, max {max}".format(**s["answer_words"]),
        "field coverage: " + ", ".join(f"{k} {v:.1%}" for k, v in s["field_coverage"].items()),
    ]
    fd = s["face_diversity"]
    lines.append(
        f"face diversity ({fd['encoder']}, {fd['faces']} faces): mean pairwise feature distance "
        f"{fd['mean_pairwise_distance']:.3f}"
        + (f", {fd['distinct_attribute_combinations']} distinct attribute combinations"
           if fd["distinct_attribute_combinations"] is not None else "")
    )
    if "compare" in s:
        c = s["compare"]
        lines.append(f"Fréchet distance vs {c['b']} ({c['encoder']}, {c['n_a']} vs {c['n_b']} images): "
                     f"{c['frechet_distance']:.4f}")
    return "\n".join(lines)
