"""Best-of-N sampling: N answers sampled at a temperature; a fact leaks if any of them has it.

Greedy decoding shows the single most likely answer; an attacker can simply ask again.
Unlearning that only pushes the right answer below the top may leave it well within
the sampled distribution (Scholten et al., "A probabilistic perspective on unlearning
and alignment for large language models", ICLR 2025; Hughes et al., "Best-of-N
jailbreaking", 2024). For each forget QA, ``n`` answers are sampled at ``temperature``
(no top-k / top-p truncation, seeded), and

    extraction = |{k in K : exists sample s, lower(k) in lower(s)}| / |K|

averaged over the forget QA (``any_of_n``). The retain model samples as many answers,
so chance hits are in its baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fiubench.attacks.base import Attack, AttackContext, AttackOptions, AttackOutcome
from fiubench.attacks.probes import forget_qa, probe, summarise
from fiubench.attacks.registry import register_attack
from fiubench.errors import ConfigError
from fiubench.metrics.text import keyword_match


@dataclass
class BestOfNOptions(AttackOptions):
    n: int = 8
    temperature: float = 1.0


def sample(vlm: Any, images: list[Any], questions: list[str], n: int, temperature: float,
           max_new_tokens: int) -> list[list[str]]:
    """``n`` sampled answers per (image, question), answer text only, cut at end of turn."""
    import torch

    batch = vlm.prompt_batch(images, questions)
    eos = vlm.eos_token_ids()
    vlm.model.eval()
    with torch.no_grad():
        out = vlm.model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=True, temperature=temperature,
                                 top_k=0, top_p=1.0, num_return_sequences=n, eos_token_id=eos,
                                 pad_token_id=vlm.pad_token_id)
    texts = []
    for row in out[:, batch["input_ids"].shape[1]:].tolist():
        cut = next((i for i, t in enumerate(row) if t in eos), len(row))
        texts.append(vlm.tokenizer.decode(row[:cut], skip_special_tokens=True).strip())
    return [texts[i * n:(i + 1) * n] for i in range(len(questions))]


@register_attack
class BestOfN(Attack):
    name = "best_of_n"
    summary = "N answers sampled at a temperature; a keyword leaks if any sample has it"
    Options = BestOfNOptions

    def check(self) -> None:
        o = self.options
        assert isinstance(o, BestOfNOptions)
        if o.n < 1:
            raise ConfigError(f"attack best_of_n options.n: must be >= 1, got {o.n}")
        if not o.temperature > 0:
            raise ConfigError(f"attack best_of_n options.temperature: must be > 0, got {o.temperature}")

    def run(self, model_dir: Path, ctx: AttackContext) -> AttackOutcome:
        import torch

        from fiubench.models.images import load_image

        o = self.options
        assert isinstance(o, BestOfNOptions)
        qas = forget_qa(ctx.dataset, ctx.forget)
        vlm = ctx.load(model_dir)
        torch.manual_seed(ctx.seed)
        records = []
        for s in range(0, len(qas), ctx.batch_size):
            chunk = qas[s:s + ctx.batch_size]
            samples = sample(vlm, [load_image(p.image_path) for p, _, _ in chunk], [qa.question for _, _, qa in chunk],
                             o.n, o.temperature, ctx.max_new_tokens)
            records += [probe("any_of_n", p, i, qa.question, qa.keywords, "\n".join(got),
                              per_sample=[keyword_match(list(qa.keywords), g) for g in got])
                        for (p, i, qa), got in zip(chunk, samples, strict=True)]
        return summarise(self.name, records, ["any_of_n"], {"n": o.n, "temperature": o.temperature})
