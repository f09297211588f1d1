"""Universal adversarial perturbation: one perturbation learnt on some forget faces,
added to the other forget faces.

Recipe (Moosavi-Dezfooli et al., "Universal adversarial perturbations", CVPR 2017; the
single-perturbation check of the Open-MMunlearning evaluation suites): the forget
identities are split into two seeded halves A and B. One perturbation d, |d|_inf <=
``eps``, is learnt on A's faces: ``steps`` signed-gradient steps of size ``alpha``
on the mean cross-entropy of the gold answers of every QA of A (PGD, one d shared by
all faces). d is then added to B's faces (8-bit PNGs) and B's questions are asked;
then the roles swap, so every forget identity is measured once, with a perturbation
that never saw it. extraction = mean keyword_match (``transfer``); ``before``: the
clean faces. A universal d cannot carry a person's facts; it can only unlock what the
model still holds, so the retain model is the control.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from fiubench.attacks.base import Attack, AttackContext, AttackOptions, AttackOutcome
from fiubench.attacks.pgd import check_budget
from fiubench.attacks.probes import forget_qa, qa_probes, summarise
from fiubench.attacks.registry import register_attack
from fiubench.errors import ConfigError


@dataclass
class UniversalOptions(AttackOptions):
    eps: float = 16 / 255
    alpha: float = 2 / 255
    steps: int = 30


def halves(ids: list[str], seed: int) -> tuple[list[str], list[str]]:
    ids = sorted(ids)
    random.Random(f"universal:{seed}").shuffle(ids)
    k = len(ids) // 2
    return sorted(ids[:k]), sorted(ids[k:])


@register_attack
class Universal(Attack):
    name = "universal"
    summary = "one perturbation learnt on half of the forget faces, added to the other half's faces"
    Options = UniversalOptions

    def check(self) -> None:
        o = self.options
        assert isinstance(o, UniversalOptions)
        check_budget(self.name, o.eps, o.alpha, o.steps)

    def learn(self, vlm, people) -> tuple:  # noqa: ANN001 - a VLM and identities
        """The universal perturbation of ``people``'s faces and QA."""
        import torch

        from fiubench.attacks.pixels import answer_batch, answer_loss
        from fiubench.models.images import load_image

        o = self.options
        assert isinstance(o, UniversalOptions)
        items = [answer_batch(vlm, load_image(p.image_path), [(qa.question, qa.answer) for qa in p.qa_list])
                 for p in people]
        shapes = {tuple(x0.shape) for _, x0 in items}
        if len(shapes) != 1:
            raise ConfigError(f"attack universal: the forget faces reach the model at different sizes {shapes}")
        delta = torch.zeros_like(items[0][1], requires_grad=True)
        for _ in range(o.steps):
            loss = sum(answer_loss(vlm, b, x0 + delta) for b, x0 in items) / len(items)
            (grad,) = torch.autograd.grad(loss, delta)
            # the projection keeps every face in [0, 1] only for the face it is applied to; clip at use
            delta = (delta.detach() - o.alpha * grad.sign()).clamp(-o.eps, o.eps).requires_grad_(True)
        return delta.detach(), items

    def run(self, model_dir: Path, ctx: AttackContext) -> AttackOutcome:
        from fiubench.attacks.pixels import answer_batch, frozen, save_face
        from fiubench.models.images import load_image

        vlm = frozen(ctx.load(model_dir))
        people = {p.unique_id: p for p in ctx.dataset.split(ctx.forget)}
        a, b = halves(list(people), ctx.seed)
        if not a or not b:
            raise ConfigError(f"attack universal: split {ctx.forget} needs >= 2 identities (learn on some, test on others)")
        faces: dict[str, Path] = {}
        for learn_on, test_on in ((a, b), (b, a)):
            delta, _ = self.learn(vlm, [people[u] for u in learn_on])
            for u in test_on:
                _, x0 = answer_batch(vlm, load_image(people[u].image_path), [("?", "?")])
                faces[u] = save_face((x0 + delta).clamp(0, 1), Path(ctx.work) / "universal" / f"{u}.png")
        qas = forget_qa(ctx.dataset, ctx.forget)
        engine = ctx.engine(vlm)
        records = qa_probes(engine, qas, "before", ctx.max_new_tokens)
        records += qa_probes(engine, qas, "transfer", ctx.max_new_tokens, image=lambda p: faces[p.unique_id])
        o = self.options
        assert isinstance(o, UniversalOptions)
        return summarise(self.name, records, ["transfer"],
                         {"eps": o.eps, "alpha": o.alpha, "steps": o.steps, "halves": [a, b]})
