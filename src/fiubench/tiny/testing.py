"""Tiny random-initialised checkpoints of every family, built offline (tests, demos).

Each is the exact architecture class of its family, with a processor and a
tokenizer (the shipped tiny BPE plus the family's special tokens) whose chat
template is equivalent to the real checkpoint's. Written as ordinary Hugging Face
checkpoint directories, so ``load_vlm`` exercises its real loading path.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from fiubench.models.families import get_family
from fiubench.models.processing import QwenVLImageTextProcessor
from fiubench.tiny.model import load_tokenizer, save_random_tiny

_TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, max_position_embeddings=1024)
_CLIP = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
             image_size=32, patch_size=16)

_SPECIALS: dict[str, dict[str, Any]] = {
    "llava-1.5": dict(extra=[], bos="<s>", eos="</s>"),
    "llava-1.6": dict(extra=["[INST]", "[/INST]"], bos="<s>", eos="</s>"),
    "llava-phi-3-mini": dict(extra=[], bos="<s>", eos="<|end|>"),
    "llama-3.2-vision": dict(
        extra=["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|image|>"],
        bos="<|begin_of_text|>", eos="<|eot_id|>", adds_bos=True,
    ),
    "idefics2": dict(extra=["<fake_token_around_image>", "<end_of_utterance>"], bos="<s>", eos="</s>"),
    "qwen2-vl": dict(
        extra=["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
               "<|video_pad|>"], bos=None, eos="<|im_end|>"),
}
_SPECIALS["qwen2.5-vl"] = _SPECIALS["qwen2-vl"]


def family_tokenizer(family: str) -> Any:
    """The tiny BPE with ``family``'s special tokens and chat template."""
    from transformers import PreTrainedTokenizerFast

    spec = get_family(family)
    s = _SPECIALS[family]
    backend = copy.deepcopy(load_tokenizer().backend_tokenizer)
    backend.add_special_tokens([t for t in [*s["extra"], spec.image_token] if backend.token_to_id(t) is None])
    named = {"image_token": spec.image_token}
    if family == "idefics2":
        named["image_boundary_token"] = "<fake_token_around_image>"
    tok = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=s["bos"], eos_token=s["eos"],
                                  pad_token="<pad>", extra_special_tokens=named, model_max_length=1024)
    if s.get("adds_bos"):
        # Like the real Llama-3 tokenizer: BOS added on every encode.
        from tokenizers import processors

        bos_id = tok.convert_tokens_to_ids(s["bos"])
        tok.backend_tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{s['bos']} $A", pair=f"{s['bos']} $A $B", special_tokens=[(s["bos"], bos_id)],
        )
    tok.chat_template = spec.chat_template
    return tok


def _build(family: str, tok: Any) -> tuple[torch.nn.Module, Any]:
    import transformers as T

    spec = get_family(family)
    vocab = len(tok)
    ids = dict(pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
               bos_token_id=tok.bos_token_id)
    image_id = tok.convert_tokens_to_ids(spec.image_token)
    if family in ("llava-1.5", "llava-phi-3-mini"):
        text = (T.Phi3Config if family == "llava-phi-3-mini" else T.LlamaConfig)(vocab_size=vocab, **_TEXT, **ids)
        cfg = T.LlavaConfig(vision_config=T.CLIPVisionConfig(**_CLIP), text_config=text, image_token_id=image_id,
                            vision_feature_select_strategy="default", vision_feature_layer=-1)
        ip = T.CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
        proc = T.LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=16, num_additional_image_tokens=1,
                                vision_feature_select_strategy="default", chat_template=tok.chat_template)
        return T.LlavaForConditionalGeneration(cfg), proc
    if family == "llava-1.6":
        pinpoints = [[32, 32], [32, 64], [64, 32]]
        cfg = T.LlavaNextConfig(vision_config=T.CLIPVisionConfig(**_CLIP),
                                text_config=T.LlamaConfig(vocab_size=vocab, **_TEXT, **ids),
                                image_token_id=image_id, image_grid_pinpoints=pinpoints,
                                vision_feature_select_strategy="default", vision_feature_layer=-1)
        ip = T.LlavaNextImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                          image_grid_pinpoints=pinpoints)
        proc = T.LlavaNextProcessor(image_processor=ip, tokenizer=tok, patch_size=16,
                                    num_additional_image_tokens=1, vision_feature_select_strategy="default",
                                    chat_template=tok.chat_template)
        return T.LlavaNextForConditionalGeneration(cfg), proc
    if family == "llama-3.2-vision":
        cfg = T.MllamaConfig(
            vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_global_layers=1,
                               attention_heads=2, image_size=32, patch_size=16, max_num_tiles=2,
                               vision_output_dim=64, intermediate_layers_indices=[0],
                               supported_aspect_ratios=[[1, 1], [1, 2], [2, 1]]),
            text_config=dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=3,
                             num_attention_heads=4, num_key_value_heads=2, cross_attention_layers=[1], **ids),
            image_token_index=image_id,
        )
        ip = T.MllamaImageProcessorPil(size={"height": 32, "width": 32}, max_image_tiles=2)
        proc = T.MllamaProcessor(image_processor=ip, tokenizer=tok, chat_template=tok.chat_template)
        model = T.MllamaForConditionalGeneration(cfg)
        # Cross-attention gates start at 0 (tanh(0) = 0: image ignored, no gradient to the
        # projector); real checkpoints have trained, non-zero gates.
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith(("cross_attn_attn_gate", "cross_attn_mlp_gate")):
                    p.fill_(1.0)
        return model, proc
    if family == "idefics2":
        cfg = T.Idefics2Config(
            vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                               image_size=32, patch_size=16),
            perceiver_config=dict(hidden_size=64, resampler_n_latents=4, resampler_depth=1, resampler_n_heads=2,
                                  resampler_head_dim=16, num_key_value_heads=1),
            text_config=dict(model_type="mistral", vocab_size=vocab, **_TEXT, **ids),
            image_token_id=image_id,
        )
        ip = T.Idefics2ImageProcessorPil(do_image_splitting=False, size={"longest_edge": 32, "shortest_edge": 32})
        proc = T.Idefics2Processor(image_processor=ip, tokenizer=tok, image_seq_len=4,
                                   chat_template=tok.chat_template)
        return T.Idefics2ForConditionalGeneration(cfg), proc
    if family in ("qwen2-vl", "qwen2.5-vl"):
        text = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=2,
                    rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]}, **ids)
        common = dict(text_config=text, image_token_id=image_id,
                      video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
                      vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"))
        if family == "qwen2-vl":
            cfg = T.Qwen2VLConfig(vision_config=dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2,
                                                     patch_size=14, spatial_merge_size=2, temporal_patch_size=2),
                                  **common)
            model = T.Qwen2VLForConditionalGeneration(cfg)
        else:
            cfg = T.Qwen2_5_VLConfig(vision_config=dict(depth=2, hidden_size=32, intermediate_size=64,
                                                        out_hidden_size=64, num_heads=2, patch_size=14,
                                                        spatial_merge_size=2, temporal_patch_size=2,
                                                        fullatt_block_indexes=[1], window_size=56), **common)
            model = T.Qwen2_5_VLForConditionalGeneration(cfg)
        ip = T.Qwen2VLImageProcessorPil(min_pixels=56 * 56, max_pixels=56 * 56, patch_size=14, merge_size=2,
                                        temporal_patch_size=2)
        return model, QwenVLImageTextProcessor(ip, tok, tok.chat_template)
    raise ValueError(f"no tiny builder for family {family!r}")


def save_tiny_family(family: str, out_dir: str | Path, seed: int = 0) -> Path:
    """Write a tiny random checkpoint of ``family`` to ``out_dir`` (a plain HF layout)."""
    out_dir = Path(out_dir)
    if family == "tiny":
        return save_random_tiny(out_dir, seed)
    torch.manual_seed(seed)
    model, proc = _build(family, family_tokenizer(family))
    gen = model.generation_config
    tok = proc.tokenizer
    gen.pad_token_id, gen.eos_token_id, gen.bos_token_id = tok.pad_token_id, tok.eos_token_id, tok.bos_token_id
    model.save_pretrained(str(out_dir))
    proc.save_pretrained(str(out_dir))
    return out_dir
