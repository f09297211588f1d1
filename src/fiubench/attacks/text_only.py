"""Cross-modal, text only: ask about the person by name instead of by face.

The learning data links a face to a name (the "full name" QA) and to the private
facts; a model may also have linked the name to the facts, so the facts can leak
through the text channel even when unlearning removed the face-to-fact link. Each
forget QA is rewritten to name the person ("What is the blood type of Jane Roe?") and
asked

* ``no_image``: in a text-only turn (no image at all);
* ``unrelated_face``: with the face of someone never trained (a holdout identity, or
  a procedural face when the dataset has none).

The QA that asks for the name itself is skipped (the name is given away). extraction
= mean keyword_match over the remaining forget QA. When the fine-tuned model does not
leak this way either, the attack is uninformative for the dataset (the report says
so instead of counting a success). Related: Liu et al., "Protecting privacy in
multimodal large language models with MLLMU-Bench" (2024; text-only vs image
queries of unlearnt profiles).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fiubench.attacks.base import Attack, AttackContext, AttackOptions, AttackOutcome
from fiubench.attacks.probes import forget_qa, named_question, probe, summarise, unrelated_faces
from fiubench.attacks.registry import register_attack
from fiubench.errors import ConfigError


@dataclass
class TextOnlyOptions(AttackOptions):
    no_image: bool = True
    unrelated_face: bool = True


@register_attack
class TextOnly(Attack):
    name = "text_only"
    summary = "ask about the person by name, with no image and with an unrelated face"
    Options = TextOnlyOptions

    def variants(self) -> list[str]:
        o = self.options
        assert isinstance(o, TextOnlyOptions)
        return [v for v, on in (("no_image", o.no_image), ("unrelated_face", o.unrelated_face)) if on]

    def check(self) -> None:
        if not self.variants():
            raise ConfigError("attack text_only options: no_image and unrelated_face are both false")

    def run(self, model_dir: Path, ctx: AttackContext) -> AttackOutcome:
        o = self.options
        assert isinstance(o, TextOnlyOptions)
        # the QA whose answer is the name gives nothing away once the name is in the question
        qas = [(p, i, qa) for p, i, qa in forget_qa(ctx.dataset, ctx.forget)
               if not any(k.strip() and k.lower() in p.name.lower() for k in qa.keywords)]
        asked = [named_question(qa.question, p.name) for p, _, qa in qas]
        engine = ctx.engine(ctx.load(model_dir))
        records = []
        if o.no_image:
            gens = engine.generate_text(asked, ctx.max_new_tokens)
            records += [probe("no_image", p, i, q, qa.keywords, g)
                        for (p, i, qa), q, g in zip(qas, asked, gens, strict=True)]
        if o.unrelated_face:
            faces = unrelated_faces(ctx.dataset, len(qas), ctx, ctx.seed)
            gens = engine.generate(list(zip(faces, asked, strict=True)), ctx.max_new_tokens)
            records += [probe("unrelated_face", p, i, q, qa.keywords, g, image=str(f))
                        for (p, i, qa), q, f, g in zip(qas, asked, faces, gens, strict=True)]
        return summarise(self.name, records, self.variants(), {"n_named_questions": len(qas)})
