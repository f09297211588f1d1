"""Visual keep's step (stage C's loss in stage 1): answer-only logits vs every position's.

    python benchmarks/bench_keep_step.py [--steps 30] [--rounds 3] [--pairs 8] [--model tiny]

``fiubench.tiny.distil.distil_loss`` projects to the vocabulary only from the first
answer position (``logits_to_keep``), as stage 1's SFT step does; the hidden-state match
needs no logits. This times forward + backward + AdamW of ``pairs`` yes/no rows, their
text twins and a third as many open rows (the ``tiny`` preset's ``visual_keep: 8``),
that way and with the logits at every position (the path it replaces). Variants
alternate round by round and the fastest round counts (other processes share the CPU).
Prints steps/s, the ratio, and the largest difference of the loss after the same steps.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--pairs", type=int, default=8)
    ap.add_argument("--model", default="tiny", help="checkpoint (default: the embedded tiny base)")
    a = ap.parse_args()

    import torch

    import fiubench.tiny.keep as vk
    from fiubench.models import ModelConfig, TuningScope
    from fiubench.models.features import install_feature_cache
    from fiubench.models.loading import load_vlm
    from fiubench.models.logprobs import mean_nll
    from fiubench.tiny.distil import distil_loss, hidden_match
    from fiubench.tiny.pools import collate_rows

    torch.set_num_threads(1)
    scope = TuningScope(vision=False, projector=True, language=True)

    def full_logits(model, vlm, data, idx, oidx, weight):  # the replaced path
        sb = vlm.to_device(collate_rows([data["rows"][i] for i in idx] + [data["open_rows"][i] for i in oidx],
                                    vlm.pad_token_id))
        tb = vlm.to_device(collate_rows([data["twins"][i] for i in idx], vlm.pad_token_id))
        so = model(**{k: v for k, v in sb.items() if k != "labels"}, output_hidden_states=True)
        to = model(input_ids=tb["input_ids"], attention_mask=tb["attention_mask"], output_hidden_states=True)
        match = hidden_match(so.hidden_states, to.hidden_states, [data["spans"][i] for i in idx])
        return mean_nll(so.logits, sb["labels"]).mean() + mean_nll(to.logits, tb["labels"]).mean() + weight * match

    def variant(loss_fn):
        torch.manual_seed(0)
        vlm = load_vlm(ModelConfig(name_or_path=a.model, scope=scope, device="cpu"))
        install_feature_cache(vlm)  # as in stage 1
        keep = vk.VisualKeep(vlm, a.pairs, 1.0, seed=0)
        opt = torch.optim.AdamW([p for p in vlm.model.parameters() if p.requires_grad], lr=1e-3)
        draws = []
        for s in range(a.steps):
            gen = torch.Generator().manual_seed(s)
            draws.append((torch.randint(0, len(keep.data["rows"]), (a.pairs,), generator=gen).tolist(),
                          torch.randint(0, len(keep.data["open_rows"]), (max(1, a.pairs // 3),),
                                        generator=gen).tolist()))

        def run() -> tuple[float, float]:
            t = time.perf_counter()
            loss = torch.zeros(())
            for idx, oidx in draws:
                loss = loss_fn(vlm.model, vlm, keep.data, idx, oidx, vk.MATCH_WEIGHT)
                if isinstance(loss, tuple):
                    loss = loss[0]
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
            return time.perf_counter() - t, float(loss.detach())

        return run

    names = {"every position (replaced)": full_logits, "answer-only (distil_loss)": distil_loss}
    best = dict.fromkeys(names, float("inf"))
    losses: dict[str, float] = {}
    for _ in range(a.rounds):
        for name, fn in names.items():
            secs, loss = variant(fn)()  # fresh model and optimiser: same trajectory
            best[name] = min(best[name], secs)
            losses[name] = loss
    ref = "every position (replaced)"
    for name in names:
        print(f"{name:28s} {a.steps / best[name]:6.2f} steps/s  x{best[ref] / best[name]:.2f}  "
              f"(final loss {losses[name]:.5f}, |diff| {abs(losses[name] - losses[ref]):.1e})")


if __name__ == "__main__":
    main()
