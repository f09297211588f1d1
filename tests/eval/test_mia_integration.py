"""MIA as a real attack on trained tiny VLMs (slow: trains two models).

A model fine-tuned on the forget identities must expose them (AUC ~1 between forget
and holdout QA); a retain model, which never saw either set, must sit near chance.
"""

from __future__ import annotations

import pytest
import torch

from fiubench.eval import EvalConfig, evaluate
from fiubench.metrics.judge import JudgeConfig
from fiubench.models.logprobs import batch_nll

JOBS = ["nurse", "pilot", "baker", "lawyer", "farmer", "dentist", "painter", "plumber", "chemist", "tailor",
        "barber", "surgeon", "sailor", "miner", "jeweller", "florist", "butcher", "welder", "cashier", "judge"]
CITIES = ["boston", "denver", "austin", "tampa", "dallas", "miami", "tucson", "omaha", "fresno", "mesa",
          "reno", "akron", "provo", "salem", "boise", "eugene", "toledo", "aurora", "irvine", "laredo"]
F = [f"1{i:07d}" for i in range(6)]
R = [f"2{i:07d}" for i in range(4)]
H = [f"3{i:07d}" for i in range(6)]


def _train(vlm, examples, steps: int, seed: int) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(seed)
    params = [p for p in vlm.model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=2e-3, betas=(0.9, 0.98), weight_decay=0.0)
    vlm.model.train()
    batch = vlm.train_batch(examples)
    for _ in range(steps):
        loss = batch_nll(vlm.forward(batch), batch["labels"])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    vlm.model.eval()


def _examples(ds, split):  # type: ignore[no-untyped-def]
    from fiubench.models.images import load_image

    return [(load_image(e.image_path), e.question, e.answer) for e in ds.examples(split)]


@pytest.mark.slow
def test_mia_auc_fine_tuned_vs_retain_model(tmp_path, dataset_writer):
    from fiubench.data import load_dataset
    from fiubench.models.config import ModelConfig
    from fiubench.models.loading import load_vlm
    from fiubench.tiny.model import save_random_tiny

    ds = load_dataset(dataset_writer(tmp_path / "ds", F, R, H, [("occupation", JOBS), ("home city", CITIES)]))
    ckpt = save_random_tiny(tmp_path / "base", seed=0)
    cfg = EvalConfig(forget="forget5", judge=JudgeConfig(backend="none"), skip=["judge", "ks"],
                     max_new_tokens=24, paraphrase_generations=False, visual=False)
    cfg.skip += ["visual", "forget.ape"]

    full = load_vlm(ModelConfig(name_or_path=str(ckpt), device="cpu"))
    _train(full, _examples(ds, "forget5") + _examples(ds, "retain"), steps=60, seed=0)
    retain = load_vlm(ModelConfig(name_or_path=str(ckpt), device="cpu"))
    _train(retain, _examples(ds, "retain"), steps=60, seed=0)

    r_full = evaluate(full, ds, cfg)
    r_ret = evaluate(retain, ds, cfg)
    assert r_full.metrics["forget.exact_match"] >= 0.9  # it did memorise the forget set
    for k in ("mia.auc_loss", "mia.auc_min_k", "mia.auc_min_k_pp"):
        assert r_full.metrics[k] >= 0.95, k
        # 12 vs 12 samples: chance AUC has std ~0.12; both sets are unseen by this model
        assert 0.15 <= r_ret.metrics[k] <= 0.85, k
    # the retain model's forget truth ratios as the KS reference of the fine-tuned model
    r_full_ks = evaluate(full, ds, EvalConfig(**{**cfg.__dict__, "skip": ["judge", "visual", "forget.ape"]}),
                         retain_reference=r_ret)
    assert r_full_ks.metrics["forget.ks_p"] < 1.0
    # relative to the retain model: a leak, and an MIA term of FQ far below the retain model's
    for a in ("loss", "min_k", "min_k_pp"):
        assert r_full_ks.metrics[f"mia.leak_{a}"] > 0.1, a
        t1, t5 = r_full_ks.metrics[f"mia.tpr1_{a}"], r_full_ks.metrics[f"mia.tpr5_{a}"]
        assert t1 is None or t5 is None or t5 >= t1  # n/a below 10 / x never-seen answers
    assert r_full_ks.metrics["mia.fq_term"] <= 0.1 < r_ret.metrics["mia.fq_term"]
