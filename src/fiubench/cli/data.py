"""`fiubench data build|validate|stats`: build, check and describe a dataset."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
from typing import Any

HELP = "build, download, validate and describe a FIUBench dataset"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    b = sub.add_parser("build", help="build a fictitious facial identity VQA dataset",
                       description="Build a dataset in the official FIUBench layout (deterministic, offline).")
    b.add_argument("--out", type=Path, required=True, help="output folder (must not exist unless --overwrite)")
    b.add_argument("--identities", "--n-identities", type=int, dest="n_identities",
                   help="trained identities (default 400; any N: built streaming, time linear in N)")
    b.add_argument("--qa-per-identity", type=int, help="QA pairs per identity (default 20)")
    b.add_argument("--holdout-fraction", type=float,
                   help="extra never-trained identities, as a fraction of --n-identities (default 0.1)")
    b.add_argument("--image-size", type=int, help="face image size in px (default 64; e.g. 256 for real VLMs)")
    b.add_argument("--seed", type=int, help="random seed (default 0); same seed => identical files")
    b.add_argument("--forget-percents", type=int, nargs="+", metavar="P",
                   help="disjoint forget splits as %% of trained identities (default 1 5 10)")
    b.add_argument("--val-percent", type=float, default=None, metavar="P",
                   help="validation identities for hyperparameter selection: forget_val and retain_val "
                        "(P%% each, disjoint from every evaluated split) and retain_test (default 0: none)")
    b.add_argument("--retain-percents", type=int, nargs="+", metavar="P",
                   help="retain subsets as %% of trained identities (default 5 15)")
    b.add_argument("--faces", type=Path, dest="faces_dir",
                   help="folder of face images to pick from instead of drawing faces")
    b.add_argument("--select", choices=("kmeans", "random"), help="how to pick faces from --faces (default kmeans)")
    b.add_argument("--encoder", help="image features for --select kmeans: 'pixels' (default) or a local HF model dir")
    b.add_argument("--overwrite", action="store_true", help="replace --out if it exists")

    d = sub.add_parser("download", help="get the official release (Hugging Face hub or a local copy) and validate it",
                       description="Snapshot the official FIUBench release (dataset repository gray311/FIUBench) "
                                   "or copy a local folder laid out like it, extract its archives (SFHQ.zip) "
                                   "and validate the result. Nothing is left behind when the download fails.")
    d.add_argument("--repo", default=None, help="hub dataset id (default gray311/FIUBench) or a local folder")
    d.add_argument("--revision", help="hub branch, tag or commit (default: the main branch)")
    d.add_argument("--out", type=Path, required=True, help="output folder (must not exist unless --overwrite)")
    d.add_argument("--max-identities", type=int, default=None,
                   help="validate only the first N rows of full.json (the authors' code uses 400)")
    d.add_argument("--overwrite", action="store_true", help="replace --out if it exists")

    v = sub.add_parser("validate", help="check a dataset (ours or the official release)",
                       description="Load a dataset and decode every image; errors name file, line and field.")
    v.add_argument("dir", type=Path)
    v.add_argument("--max-identities", type=int, help="use only the first N rows of full.json (official: 400)")

    s = sub.add_parser("stats", help="counts, field coverage, answer lengths, face diversity, FID",
                       description="Describe a dataset; --compare gives the Fréchet distance of two image sets.")
    s.add_argument("dir", type=Path)
    s.add_argument("--max-identities", type=int, help="use only the first N rows of full.json")
    s.add_argument("--grid", type=Path, metavar="OUT.png", help="write a grid of the first faces")
    s.add_argument("--grid-n", type=int, default=32, help="faces in the grid (default 32)")
    s.add_argument("--compare", type=Path, metavar="DIR2",
                   help="another dataset or image folder: Fréchet distance between the two face sets")
    s.add_argument("--encoder", default="pixels", help="'pixels' (default) or a local HF vision model dir")
    s.add_argument("--json", type=Path, metavar="OUT.json", help="also write the statistics (with provenance)")


def _build(args: argparse.Namespace) -> int:
    from fiubench.data.build import DataConfig, build_dataset
    from fiubench.utils.config import from_dict

    keys = ("n_identities", "qa_per_identity", "holdout_fraction", "image_size", "seed", "forget_percents",
            "retain_percents", "faces_dir", "select", "encoder", "val_percent")
    given: dict[str, Any] = {k: getattr(args, k) for k in keys if getattr(args, k) is not None}
    cfg = from_dict(DataConfig, given, where="data build")
    out = build_dataset(cfg, args.out, overwrite=args.overwrite)
    build = json.loads((out / "build.json").read_text())
    c = build["counts"]
    print(f"wrote {out}: {c['trained']} identities + {c['holdout']} holdout, {c['qa']} QA, "
          f"{c['visual_qa']} visual QA")
    return 0


def _download(args: argparse.Namespace) -> int:
    from fiubench.data.download import DEFAULT_REPO, download_release
    from fiubench.data.load import validate_dataset
    from fiubench.errors import DataError

    if args.max_identities is not None and args.max_identities < 1:
        from fiubench.errors import ConfigError

        raise ConfigError(f"--max-identities must be >= 1, got {args.max_identities}")
    root = download_release(args.out, repo=args.repo or DEFAULT_REPO, revision=args.revision,
                            overwrite=args.overwrite)
    print(f"wrote {args.out}")
    try:
        report = validate_dataset(root, max_identities=args.max_identities)
    except DataError as e:
        raise DataError(f"downloaded to {root}, but it does not validate (the files are kept): {e}") from None
    print(report.summary())
    print(f"use it: `dataset: {root}` in a run config based on the paper preset (see README)")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from fiubench.data.load import validate_dataset

    print(validate_dataset(args.dir, max_identities=args.max_identities).summary())
    return 0


def _stats(args: argparse.Namespace) -> int:
    from fiubench.data.load import load_dataset
    from fiubench.data.stats import compare_sets, dataset_stats, face_grid, format_stats
    from fiubench.errors import ConfigError
    from fiubench.utils.io import atomic_write_bytes, atomic_write_json
    from fiubench.utils.provenance import provenance

    if args.grid_n < 1:
        raise ConfigError(f"--grid-n must be >= 1, got {args.grid_n}")
    if args.grid is not None and args.grid.suffix.lower() != ".png":
        raise ConfigError(f"--grid {args.grid}: the grid is written as PNG, name it *.png")
    ds = load_dataset(args.dir, max_identities=args.max_identities)
    stats = dataset_stats(ds, encoder=args.encoder)
    if args.compare is not None:
        if not args.compare.is_dir():
            raise ConfigError(f"--compare {args.compare}: not a directory")
        stats["compare"] = compare_sets(args.dir, args.compare, encoder=args.encoder)
    print(format_stats(stats))
    config = {"dir": str(args.dir), "encoder": args.encoder, "compare": str(args.compare) if args.compare else None,
              "max_identities": args.max_identities, "grid_n": args.grid_n}
    if args.grid is not None:
        grid = face_grid([p.image_path for p in ds.identities.values()], n=args.grid_n)
        buf = io.BytesIO()
        grid.save(buf, format="PNG")
        atomic_write_bytes(args.grid, buf.getvalue())
        atomic_write_json(args.grid.with_name(args.grid.name + ".provenance.json"), provenance(config))
        print(f"wrote {args.grid}")
    if args.json is not None:
        atomic_write_json(args.json, {"stats": stats, "provenance": provenance(config)})
        print(f"wrote {args.json}")
    return 0


def run(args: argparse.Namespace) -> int:
    return {"build": _build, "download": _download, "validate": _validate, "stats": _stats}[args.data_command](args)
