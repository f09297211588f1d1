"""Translated questions: the forget questions asked in French (an example attack in one file).

Unlearning on English questions may leave other languages untouched (Lynch et al.,
"Eight methods to evaluate robust unlearning in LLMs", 2024). Each forget question is
rewritten by a fixed phrase table and asked with the person's face;

    extraction = mean over forget QA of keyword_match(keywords, answer)

(``fiubench.attacks.base``). Inside fiubench this file is
``src/fiubench/attacks/translate.py``, imported in ``attacks/__init__.py``;
``tests/examples/test_examples.py`` runs it on a tiny random VLM.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fiubench.attacks.base import Attack, AttackContext, AttackOptions, AttackOutcome
from fiubench.attacks.probes import forget_qa, probe, summarise
from fiubench.attacks.registry import register_attack

# A phrase table, not a translator: enough to move the question off the training wording.
PHRASES = {"What is": "Quel est", "What's": "Quel est", "the person in the image": "la personne sur l'image"}


def translate(question: str) -> str:
    for en, fr in PHRASES.items():
        question = question.replace(en, fr)
    return question


@dataclass
class TranslateOptions(AttackOptions):
    language: str = "fr"


@register_attack
class Translate(Attack):
    name = "translate"
    summary = "the forget questions asked in French"
    Options = TranslateOptions

    def run(self, model_dir: Path, ctx: AttackContext) -> AttackOutcome:
        qas = forget_qa(ctx.dataset, ctx.forget)
        asked = [translate(qa.question) for _, _, qa in qas]
        engine = ctx.engine(ctx.load(model_dir))  # batched, each face encoded once
        gens = engine.generate([(p.image_path, q) for (p, _, _), q in zip(qas, asked, strict=True)],
                               ctx.max_new_tokens)
        records = [probe("fr", p, i, q, qa.keywords, g)
                   for (p, i, qa), q, g in zip(qas, asked, gens, strict=True)]
        return summarise(self.name, records, ["fr"])
