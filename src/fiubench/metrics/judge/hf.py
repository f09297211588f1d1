"""Judge on a local Hugging Face causal LM (greedy, same prompt as the API judge)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fiubench.errors import ConfigError
from fiubench.metrics.judge.base import (
    JUDGES,
    SYSTEM_PROMPT,
    Judge,
    JudgeConfig,
    JudgeVerdict,
    parse_score,
    user_prompt,
)


@JUDGES.register("hf")
class HFJudge(Judge):
    backend = "hf"

    def __init__(self, cfg: JudgeConfig) -> None:
        super().__init__(cfg)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not cfg.model or not Path(cfg.model).exists():
            raise ConfigError(f"judge.model: the hf backend needs a local model directory, got {cfg.model!r}")
        self.label = f"judge (local LM {Path(cfg.model).name})"
        self._torch = torch
        self.tok = AutoTokenizer.from_pretrained(cfg.model, local_files_only=True, trust_remote_code=cfg.trust_remote_code)
        self.tok.padding_side = "left"
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        from fiubench.models.loading import refuse_pickle

        refuse_pickle(Path(cfg.model), cfg.allow_pickle, "judge.model", "judge.allow_pickle: true")
        self.model = AutoModelForCausalLM.from_pretrained(
            cfg.model, local_files_only=True, trust_remote_code=cfg.trust_remote_code,
            use_safetensors=None if cfg.allow_pickle else True,
        ).eval()

    def _prompt(self, q: str, r: str, p: str) -> str:
        msgs = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user_prompt(q, r, p)}]
        if getattr(self.tok, "chat_template", None):
            return str(self.tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))
        return SYSTEM_PROMPT + "\n\n" + user_prompt(q, r, p)

    def _score_batch(self, items: Sequence[tuple[str, str, str]]) -> list[JudgeVerdict]:
        out: list[JudgeVerdict] = []
        for i in range(0, len(items), 8):
            chunk = items[i : i + 8]
            enc = self.tok([self._prompt(*it) for it in chunk], return_tensors="pt", padding=True)
            with self._torch.inference_mode():
                gen = self.model.generate(
                    **enc, max_new_tokens=self.cfg.max_new_tokens, do_sample=False,
                    pad_token_id=self.tok.pad_token_id,
                )
            for row in gen[:, enc["input_ids"].shape[1]:]:
                raw = self.tok.decode(row, skip_special_tokens=True)
                s = parse_score(raw)
                out.append(JudgeVerdict(s, raw, s is not None))
        return out
