"""The model passes of an evaluation: batched greedy generation and batched scoring.

Speed without changing a single number:

- Rows are batched (``batch_size``); every answer variant of a question (answer,
  paraphrased answer, perturbed answers) is a row of the same pass.
- LLaVA-style models (``model_type == "llava"``: fixed image-token count, features
  scattered into the text embeddings at the image tokens): each image goes through the
  image processor and the vision tower + projector ONCE per evaluation
  (``get_image_features``); every later question/variant of that image feeds cached
  features via ``inputs_embeds``. Tokenisation bypasses the processor (it would
  re-process the image): the prompt's ``<image>`` is expanded to the measured number
  of image tokens and the text tokenised; the first batch is checked against the
  processor's own output (token ids and labels) and the fast path is disabled if
  they ever differ. Tokenised prompts are cached per question.
- Every other supported family encodes each image once too, through the model's
  own precomputed-features input: LLaVA-NeXT, Idefics2, Qwen2-VL and Qwen2.5-VL take
  ``mm_encoder_outputs`` (the output of ``get_image_features``: vision tower +
  projector/resampler/merger), Llama-3.2-Vision (Mllama) takes
  ``cross_attention_states`` (vision model + projector; its image reaches the text
  through cross-attention layers, not through image tokens). Their text still goes
  through the processor (the number and layout of their image tokens depend on the
  image: any-resolution tiles, the Qwen grid, Mllama's tile mask), which re-runs the
  cheap image *preprocessing* per row, never the vision model.
- ``reuse_image_features=False`` (and any model outside these families) uses
  ``VLM.train_batch`` / ``VLM.forward`` / ``VLM.generate`` (still batched; the image
  is re-encoded per row): the slow path the fast ones are tested against.

Scores follow ``fiubench.models.logprobs``: the scored tokens are the answer and its
end-of-turn token (the labels of ``VLM.train_batch``). For Min-K%++ every scored
position also stores mu = E_{z~p}[log p(z)] and sigma = sqrt(E[(log p(z))^2] - mu^2)
of the model's next-token distribution (Zhang et al. 2024), from the same logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from fiubench.models.logprobs import IGNORE_INDEX, answer_window, token_logprobs

# model_type -> how cached image features enter the model (see the module docstring).
_ENCODER_KINDS = {"llava_next": "mm", "idefics2": "mm", "qwen2_vl": "mm", "qwen2_5_vl": "mm", "mllama": "mllama"}
# Processor outputs that only the vision side reads: dropped once features are cached.
_PIXEL_KEYS = ("pixel_values", "pixel_attention_mask", "aspect_ratio_ids", "aspect_ratio_mask")


@dataclass(frozen=True)
class ScoreRow:
    image_path: Path
    question: str
    answer: str
    with_dist: bool = False  # also compute per-token mu/sigma (Min-K%++)


@dataclass
class TokenStats:
    logprobs: list[float]
    mu: list[float] | None = None
    sigma: list[float] | None = None

    @property
    def mean_nll(self) -> float:
        return -sum(self.logprobs) / max(1, len(self.logprobs))


class Engine:
    """Runs generation and scoring for one VLM with per-evaluation caches.

    The image-feature cache assumes fixed weights: build a new Engine after any
    weight update (``evaluate`` builds one per call).
    """

    def __init__(self, vlm: Any, batch_size: int = 16, reuse_image_features: bool = True,
                 shard: Any = None) -> None:
        self.vlm = vlm
        self.batch_size = batch_size
        self.shard = shard  # fiubench.eval.shard.Shard: this process computes its batches only
        self.reuse = reuse_image_features
        self._images: dict[Path, Any] = {}
        self._features: dict[Path, torch.Tensor] = {}
        self._prompt_ids: dict[str, list[int]] = {}
        self._n_image_tokens: int | None = None
        self._verified = False  # scoring batches checked against VLM.train_batch
        self._verified_prompts = False  # generation prompts checked against VLM.prompt_batch
        hf = getattr(vlm, "hf_model", getattr(vlm, "model", None))
        cfg = getattr(hf, "config", None)
        self.fast = bool(
            reuse_image_features
            and cfg is not None
            and getattr(cfg, "model_type", None) == "llava"
            and hasattr(hf, "get_image_features")
            and getattr(cfg, "image_token_id", None) is not None
        )
        # Families that take precomputed image features as a model input.
        self.encoded = _ENCODER_KINDS.get(getattr(cfg, "model_type", "")) if reuse_image_features else None
        self._encoded: dict[Path, Any] = {}
        self.stats: dict[str, Any] = {
            "fast_path": self.fast or self.encoded is not None, "batch_size": batch_size, "image_encodes": 0,
            "forward_passes": 0, "generate_calls": 0,
        }

    # --- caches ------------------------------------------------------------------------
    def image(self, path: Path) -> Any:
        """The decoded image; re-read from disk every time when caching is off (baseline)."""
        from fiubench.models.images import load_image

        if not self.reuse:
            return load_image(path)
        if path not in self._images:
            self._images[path] = load_image(path)
        return self._images[path]

    def features(self, path: Path) -> torch.Tensor:
        """Projected image features [n_image_tokens, hidden], computed once per image."""
        if path not in self._features:
            hf = self.vlm.hf_model
            pix = self.vlm.prompt_batch([self.image(path)], ["?"])
            cfg = hf.config
            was_training = self.vlm.model.training
            self.vlm.model.eval()  # no dropout in cached features
            try:
                with torch.no_grad():
                    out = hf.get_image_features(
                        pixel_values=pix["pixel_values"],
                        vision_feature_layer=cfg.vision_feature_layer,
                        vision_feature_select_strategy=cfg.vision_feature_select_strategy,
                    )
            finally:
                self.vlm.model.train(was_training)
            feats = out.pooler_output if hasattr(out, "pooler_output") else out
            f = feats[0]  # one image: a list of per-image tensors or a [1, n, hidden] tensor
            self._features[path] = f.reshape(-1, f.shape[-1])
            self.stats["image_encodes"] += 1
            if self._n_image_tokens is None:
                self._n_image_tokens = int((pix["input_ids"] == cfg.image_token_id).sum())
        return self._features[path]

    # --- tokenisation (fast path) --------------------------------------------------------
    def _expand(self, text: str) -> str:
        tok = self.vlm.family.image_token
        assert self._n_image_tokens is not None
        return text.replace(tok, tok * self._n_image_tokens)

    def _ids(self, text: str) -> list[int]:
        return list(self.vlm.tokenizer(text, add_special_tokens=True)["input_ids"])

    def _prompt(self, question: str, prefill: str | None = None) -> list[int]:
        key = question if not prefill else f"{question}\x00{prefill}"
        if key not in self._prompt_ids:
            self._prompt_ids[key] = self._ids(self._expand(self.vlm.render_prefilled(question, prefill)))
        return self._prompt_ids[key]

    def _pad(self, seqs: list[list[int]], left: bool) -> tuple[torch.Tensor, torch.Tensor]:
        n = max(len(s) for s in seqs)
        pad = self.vlm.pad_token_id
        ids = torch.full((len(seqs), n), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), n), dtype=torch.long)
        for i, s in enumerate(seqs):
            sl = slice(n - len(s), n) if left else slice(0, len(s))
            ids[i, sl] = torch.tensor(s, dtype=torch.long)
            mask[i, sl] = 1
        return ids.to(self.vlm.device), mask.to(self.vlm.device)

    def _score_batch_fast(self, rows: list[ScoreRow]) -> dict[str, torch.Tensor]:
        for r in rows:
            self.features(r.image_path)
        seqs, plens = [], []
        for r in rows:
            p = self._prompt(r.question)
            full = self._ids(self._expand(self.vlm.render_prompt(r.question) + self.vlm.render_completion(r.answer)))
            if full[: len(p)] != p:  # tokenizer merged across the prompt/answer boundary
                raise _FastPathMismatch("prompt tokens changed when the answer was appended")
            seqs.append(full)
            plens.append(len(p))
        ids, mask = self._pad(seqs, left=False)
        labels = ids.clone()
        for i, p in enumerate(plens):
            labels[i, :p] = IGNORE_INDEX
        labels[mask == 0] = IGNORE_INDEX
        batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        if not self._verified:
            ref = self.vlm.train_batch([(self.image(r.image_path), r.question, r.answer) for r in rows])
            same = all(
                torch.equal(ref[k].cpu(), batch[k].cpu()) for k in ("input_ids", "attention_mask", "labels")
            ) if ref["input_ids"].shape == ids.shape else False
            if not same:
                raise _FastPathMismatch("tokenisation differs from the processor's")
            self._verified = True
        return batch

    def _embeds(self, ids: torch.Tensor, paths: list[Path]) -> torch.Tensor:
        hf = self.vlm.hf_model
        emb = self.vlm.model.get_input_embeddings()(ids)
        img_mask = (ids == hf.config.image_token_id).unsqueeze(-1)
        feats = torch.cat([self.features(p) for p in paths]).to(emb.dtype)
        return emb.masked_scatter(img_mask, feats)

    # --- scoring -------------------------------------------------------------------------
    @torch.no_grad()
    def score(self, rows: list[ScoreRow]) -> list[TokenStats]:
        """Per-token answer log-probs (and mu/sigma where asked) for every row, in order."""
        model = self.vlm.model
        was_training = model.training
        model.eval()
        try:
            return self._batched(rows, self._score_chunk)
        finally:
            model.train(was_training)

    def _score_chunk(self, chunk: list[ScoreRow]) -> list[TokenStats]:
        logits, labels = self._logits(chunk)
        return self._stats(logits, labels, chunk)

    def _batched(self, items: list[Any], fn: Any) -> list[Any]:
        """``fn`` over consecutive batches; across processes when sharded (same batches)."""
        if self.shard is not None and self.shard.world > 1:
            return self.shard.map_batches(items, self.batch_size, fn)
        out: list[Any] = []
        for s in range(0, len(items), self.batch_size):
            out.extend(fn(items[s : s + self.batch_size]))
        return out

    def _logits(self, chunk: list[ScoreRow]) -> tuple[torch.Tensor, torch.Tensor]:
        self.stats["forward_passes"] += 1
        if self.fast:
            try:
                batch = self._score_batch_fast(chunk)
                emb = self._embeds(batch["input_ids"], [r.image_path for r in chunk])
                labels = batch["labels"]
                # The LM head (vocab-sized) only where an answer token is predicted: the
                # last `keep` positions cover every row's answer (right padding), and the
                # first kept position is a prompt position of every row (label -100).
                first = int((labels != IGNORE_INDEX).float().argmax(1).min()) - 1
                keep = labels.shape[1] - first
                logits = self.vlm.model(
                    inputs_embeds=emb, attention_mask=batch["attention_mask"], logits_to_keep=keep
                ).logits
                return logits, labels[:, first:]
            except _FastPathMismatch as e:
                self.fast = False
                self.stats["fast_path"] = False
                self.stats["fast_path_disabled"] = str(e)
        batch = self.vlm.train_batch([(self.image(r.image_path), r.question, r.answer) for r in chunk])
        if self.encoded is not None:
            labels = batch["labels"]
            window = answer_window(labels)
            inputs = self._with_features(batch, [r.image_path for r in chunk])
            logits = self.vlm.model(**inputs, logits_to_keep=labels.shape[1] - window).logits
            return logits, labels[:, window:]
        self.stats["image_encodes"] += len(chunk)
        return self.vlm.forward(batch), batch["labels"]

    # --- precomputed features (LLaVA-NeXT, Idefics2, Qwen2-VL/2.5-VL, Mllama) ----------
    def encoded_features(self, path: Path) -> Any:
        """This image's encoder output, computed once: ``get_image_features`` output
        (``mm``) or Mllama's cross-attention states [tiles, patches, hidden]."""
        if path not in self._encoded:
            hf = self.vlm.hf_model
            pix = self.vlm.prompt_batch([self.image(path)], ["?"])
            was_training = self.vlm.model.training
            self.vlm.model.eval()
            try:
                with torch.no_grad():
                    self._encoded[path] = (self._mllama_states(hf, pix) if self.encoded == "mllama"
                                           else self._mm_features(hf, pix))
            finally:
                self.vlm.model.train(was_training)
            self.stats["image_encodes"] += 1
        return self._encoded[path]

    @staticmethod
    def _mm_features(hf: Any, pix: dict[str, torch.Tensor]) -> Any:
        import inspect

        accepted = inspect.signature(hf.get_image_features).parameters
        kwargs = {k: v for k, v in pix.items() if k in accepted and k not in ("input_ids", "attention_mask")}
        return hf.get_image_features(**kwargs, return_dict=True).pooler_output

    @staticmethod
    def _mllama_states(hf: Any, pix: dict[str, torch.Tensor]) -> torch.Tensor:
        # MllamaModel.forward's own vision branch, for one image: every later row of the
        # image passes the result as ``cross_attention_states``.
        m = hf.model
        hidden = m.vision_model(pixel_values=pix["pixel_values"], aspect_ratio_ids=pix["aspect_ratio_ids"],
                                aspect_ratio_mask=pix["aspect_ratio_mask"]).last_hidden_state
        return m.multi_modal_projector(hidden).reshape(-1, hidden.shape[-2], m.hidden_size)

    def _with_features(self, batch: dict[str, torch.Tensor], paths: list[Path]) -> dict[str, Any]:
        """``batch`` with its pixel inputs replaced by the rows' cached features."""
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        inputs: dict[str, Any] = {k: v for k, v in batch.items() if k != "labels" and k not in _PIXEL_KEYS}
        feats = [self.encoded_features(p) for p in paths]
        if self.encoded == "mllama":
            inputs["cross_attention_states"] = torch.cat(feats, dim=0)
        elif isinstance(feats[0], (list, tuple)):  # one tensor per image (LLaVA-NeXT, Qwen)
            inputs["mm_encoder_outputs"] = {"image": BaseModelOutputWithPooling(
                pooler_output=[t for f in feats for t in f])}
        else:  # a [n_images, tokens, hidden] tensor (Idefics2)
            inputs["mm_encoder_outputs"] = {"image": BaseModelOutputWithPooling(pooler_output=torch.cat(feats))}
        return inputs

    @staticmethod
    def _stats(logits: torch.Tensor, labels: torch.Tensor, chunk: list[ScoreRow]) -> list[TokenStats]:
        logp, mask = token_logprobs(logits, labels)
        need = any(r.with_dist for r in chunk)
        if need:
            sel = mask.bool()
            # float64 on the scored positions only ([N, V]); the centred form avoids the
            # cancellation of E[x^2] - mu^2.
            lsm = torch.log_softmax(logits[:, :-1, :][sel].double(), dim=-1)
            p = lsm.exp()
            mu = (p * lsm).sum(-1)
            sigma = (p * (lsm - mu.unsqueeze(-1)).pow(2)).sum(-1).sqrt()
            counts = sel.sum(1).tolist()
            mus, sigmas = mu.split(counts), sigma.split(counts)
        out = []
        for i, r in enumerate(chunk):
            m = mask[i].bool()
            st = TokenStats(logp[i][m].tolist())
            if r.with_dist:
                st.mu, st.sigma = mus[i].tolist(), sigmas[i].tolist()
            out.append(st)
        return out

    # --- generation ----------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, pairs: list[tuple[Path, str]], max_new_tokens: int,
                 prefill: list[str | None] | None = None) -> list[str]:
        """Greedy answers for (image, question) pairs, batched, in order.

        ``prefill[i]``: a forced start of answer i (the prefill attack); only the model's
        continuation is returned.
        """
        pre = list(prefill) if prefill is not None else [None] * len(pairs)
        if len(pre) != len(pairs):
            raise ValueError(f"generate: {len(pairs)} pairs but {len(pre)} prefills")
        items = list(zip(pairs, pre, strict=True))
        return self._batched(items, lambda chunk: self._generate_chunk(
            [c[0] for c in chunk], max_new_tokens, [c[1] for c in chunk]))

    def _generate_chunk(self, chunk: list[tuple[Path, str]], max_new_tokens: int,
                        fills: list[str | None] | None = None) -> list[str]:
        fills = list(fills) if fills is not None else [None] * len(chunk)
        self.stats["generate_calls"] += 1
        if self.fast and not self._verified_prompts:
            self._verify_prompts(chunk, fills)
        if self.fast:
            return self._generate_fast(chunk, max_new_tokens, fills)
        if self.encoded is not None:
            return self._generate_encoded(chunk, max_new_tokens, fills)
        self.stats["image_encodes"] += len(chunk)
        return self.vlm.generate([self.image(p) for p, _ in chunk], [q for _, q in chunk], max_new_tokens,
                                 prefill=fills if any(fills) else None)

    def _generate_encoded(self, chunk: list[tuple[Path, str]], max_new_tokens: int,
                          fills: list[str | None]) -> list[str]:
        batch = self.vlm.prompt_batch([self.image(p) for p, _ in chunk], [q for _, q in chunk],
                                      fills if any(fills) else None)
        inputs = self._with_features(batch, [p for p, _ in chunk])
        model = self.vlm.model
        was_training = model.training
        model.eval()
        eos = self.vlm.eos_token_ids()
        hf = self.vlm.hf_model
        if self.encoded == "mllama":
            # Cross-attention keys/values of the image are computed at prefill and kept in
            # the KV cache; passing the states again on later steps would append them twice
            # (Mllama's own generate drops pixel_values after prefill for the same reason).
            prepare = hf.prepare_inputs_for_generation

            def prepare_once(*args: Any, **kwargs: Any) -> dict[str, Any]:
                out = prepare(*args, **kwargs)
                if not kwargs.get("is_first_iteration", False) and kwargs.get("use_cache", False):
                    out["cross_attention_states"] = None
                return out

            hf.prepare_inputs_for_generation = prepare_once
        try:
            gen = model.generate(
                **inputs, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, eos_token_id=eos,
                pad_token_id=self.vlm.pad_token_id, temperature=None, top_p=None, top_k=None,
            )
        finally:
            model.train(was_training)
            if self.encoded == "mllama":
                del hf.prepare_inputs_for_generation  # back to the class's method
        return self._decode(gen[:, batch["input_ids"].shape[1]:], eos)

    def _decode(self, new: torch.Tensor, eos: list[int]) -> list[str]:
        texts = []
        for row in new.tolist():
            cut = next((i for i, t in enumerate(row) if t in eos), len(row))
            texts.append(self.vlm.tokenizer.decode(row[:cut], skip_special_tokens=True).strip())
        return texts

    @torch.no_grad()
    def generate_text(self, questions: list[str], max_new_tokens: int) -> list[str]:
        """Greedy answers to text-only prompts (no image), batched, in order."""
        out: list[str] = []
        for s in range(0, len(questions), self.batch_size):
            self.stats["generate_calls"] += 1
            out.extend(self.vlm.generate(None, questions[s : s + self.batch_size], max_new_tokens))
        return out

    def _verify_prompts(self, chunk: list[tuple[Path, str]], fills: list[str | None]) -> None:
        """Check once that our left-padded prompt ids equal the processor's."""
        for p, _ in chunk:
            self.features(p)
        ids, mask = self._pad([self._prompt(q, f) for (_, q), f in zip(chunk, fills, strict=True)], left=True)
        ref = self.vlm.prompt_batch([self.image(p) for p, _ in chunk], [q for _, q in chunk], fills)
        if ref["input_ids"].shape != ids.shape or not (
            torch.equal(ref["input_ids"].cpu(), ids.cpu()) and torch.equal(ref["attention_mask"].cpu(), mask.cpu())
        ):
            self.fast = False
            self.stats["fast_path"] = False
            self.stats["fast_path_disabled"] = "prompt tokenisation differs from the processor's"
        self._verified_prompts = True

    def _generate_fast(self, chunk: list[tuple[Path, str]], max_new_tokens: int,
                       fills: list[str | None]) -> list[str]:
        for p, _ in chunk:
            self.features(p)
        ids, mask = self._pad([self._prompt(q, f) for (_, q), f in zip(chunk, fills, strict=True)], left=True)
        emb = self._embeds(ids, [p for p, _ in chunk])
        model = self.vlm.model
        was_training = model.training
        model.eval()
        eos = self.vlm.eos_token_ids()
        try:
            gen = model.generate(
                input_ids=ids, inputs_embeds=emb, attention_mask=mask, max_new_tokens=max_new_tokens,
                do_sample=False, num_beams=1, eos_token_id=eos, pad_token_id=self.vlm.pad_token_id,
                temperature=None, top_p=None, top_k=None,
            )
        finally:
            model.train(was_training)
        new = gen[:, ids.shape[1]:] if gen.shape[1] > ids.shape[1] and torch.equal(gen[:, : ids.shape[1]], ids) else gen
        return self._decode(new, eos)


class _FastPathMismatch(Exception):
    """The fast tokenisation would differ from the model layer's: use the slow path."""
