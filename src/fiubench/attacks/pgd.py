"""PGD on the face: pixels optimised so the model gives the gold answers, measured on
other questions about the same person.

Recipe (Madry et al., "Towards deep learning models resistant to adversarial attacks",
ICLR 2018; on VLMs: Qi et al., "Visual adversarial examples jailbreak aligned large
language models", AAAI 2024; Carlini et al., "Are aligned neural networks adversarially
aligned?", NeurIPS 2023): for each forget identity, a seeded half of its QA (the same
halves as ``relearn``) is the attacker's; the face x0 (the processor's view, pixels in
[0, 1]) gets a perturbation d with |d|_inf <= ``eps``, ``steps`` signed-gradient steps
of size ``alpha`` that lower the cross-entropy of those QA's gold answers:

    d <- clip_eps(d - alpha * sign(grad_d CE(model(x0 + d), answers)))

The perturbed face (an 8-bit PNG) is then asked the *other* half of the questions:
extraction = mean keyword_match over them (``heldout_half``); ``before``: the clean face
on the same half. A perturbation can make any model say the answers it was optimised
on; only a model that still holds the person's other facts can reveal those, so the
retain model is the control.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fiubench.attacks.base import Attack, AttackContext, AttackOptions, AttackOutcome
from fiubench.attacks.probes import half_split, qa_probes, summarise
from fiubench.attacks.registry import register_attack
from fiubench.errors import ConfigError


@dataclass
class PGDOptions(AttackOptions):
    eps: float = 8 / 255  # L-inf budget in pixel units ([0, 1])
    alpha: float = 2 / 255  # step size
    steps: int = 20


def check_budget(name: str, eps: float, alpha: float, steps: int) -> None:
    if not 0 < eps <= 1:
        raise ConfigError(f"attack {name} options.eps: must be in (0, 1], got {eps}")
    if not 0 < alpha <= eps:
        raise ConfigError(f"attack {name} options.alpha: must be in (0, eps], got {alpha}")
    if steps < 1:
        raise ConfigError(f"attack {name} options.steps: must be >= 1, got {steps}")


@register_attack
class PGD(Attack):
    name = "pgd"
    summary = "the face's pixels optimised (L-inf PGD) toward half of the gold answers; ask the other half"
    Options = PGDOptions

    def check(self) -> None:
        o = self.options
        assert isinstance(o, PGDOptions)
        check_budget(self.name, o.eps, o.alpha, o.steps)

    def run(self, model_dir: Path, ctx: AttackContext) -> AttackOutcome:
        import torch

        from fiubench.attacks.pixels import answer_batch, answer_loss, frozen, pgd_step, save_face
        from fiubench.models.images import load_image

        o = self.options
        assert isinstance(o, PGDOptions)
        vlm = frozen(ctx.load(model_dir))
        faces: dict[str, Path] = {}
        measured = []
        losses = []
        for p in ctx.dataset.split(ctx.forget):
            shown, held = half_split(p, ctx.seed)
            if not shown or not held:
                raise ConfigError(f"attack pgd: identity {p.unique_id} needs >= 2 QA to split them in halves")
            batch, x0 = answer_batch(vlm, load_image(p.image_path), [(p.qa_list[i].question, p.qa_list[i].answer)
                                                                     for i in shown])
            delta = torch.zeros_like(x0, requires_grad=True)
            for _ in range(o.steps):
                loss = answer_loss(vlm, batch, x0 + delta)
                (grad,) = torch.autograd.grad(loss, delta)
                delta = pgd_step(x0, delta.detach(), grad, o.alpha, o.eps).requires_grad_(True)
            with torch.no_grad():
                losses.append((float(answer_loss(vlm, batch, x0)), float(answer_loss(vlm, batch, x0 + delta))))
            faces[p.unique_id] = save_face(x0 + delta, Path(ctx.work) / "pgd" / f"{p.unique_id}.png")
            measured += [(p, i, p.qa_list[i]) for i in held]
        engine = ctx.engine(vlm)
        records = qa_probes(engine, measured, "before", ctx.max_new_tokens)
        records += qa_probes(engine, measured, "heldout_half", ctx.max_new_tokens, image=lambda p: faces[p.unique_id])
        n = max(1, len(losses))
        return summarise(self.name, records, ["heldout_half"],
                         {"eps": o.eps, "alpha": o.alpha, "steps": o.steps,
                          "optimised_loss_before": sum(a for a, _ in losses) / n,
                          "optimised_loss_after": sum(b for _, b in losses) / n})
