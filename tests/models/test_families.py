"""Every family: template text, labels, scope, LoRA, generation stop, round-trip."""

from __future__ import annotations

import re

import pytest
import torch
from PIL import Image

from fiubench.models import ModelConfig, TuningScope, list_families, load_vlm
from fiubench.models.logprobs import IGNORE_INDEX, batch_nll
from fiubench.models.scope import lora_target_modules

FAMILIES = [f.name for f in list_families()]

# What the prompt must look like (image placeholders expanded by the processor are
# collapsed to a single <IMG> here). Equivalent to the real checkpoints' templates.
EXPECTED_PROMPT = {
    "tiny": "<|user|>\n<IMG>\nQ?<|end|>\n<|assistant|>\n",
    "llava-phi-3-mini": "<|user|>\n<IMG>\nQ?<|end|>\n<|assistant|>\n",
    "llava-1.5": "USER: <IMG>\nQ? ASSISTANT:",
    "llava-1.6": "[INST] <IMG>\nQ? [/INST]",
    "llama-3.2-vision": "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\n<IMG>Q?<|eot_id|>"
                        "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "idefics2": "User:<IMG>Q?<end_of_utterance>\nAssistant:",
    "qwen2-vl": "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
                "<|vision_start|><IMG><|vision_end|>Q?<|im_end|>\n<|im_start|>assistant\n",
}
EXPECTED_PROMPT["qwen2.5-vl"] = EXPECTED_PROMPT["qwen2-vl"]
EXPECTED_EOT = {
    "tiny": "<|end|>", "llava-phi-3-mini": "<|end|>", "llava-1.5": "</s>", "llava-1.6": "</s>",
    "llama-3.2-vision": "<|eot_id|>", "idefics2": "<end_of_utterance>", "qwen2-vl": "<|im_end|>",
    "qwen2.5-vl": "<|im_end|>",
}


def _img(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 64)) -> Image.Image:
    return Image.new("RGB", size, color)


def _load(dir_, **kw):
    return load_vlm(ModelConfig(name_or_path=str(dir_), device="cpu", **kw))


def test_every_family_is_covered():
    assert set(EXPECTED_PROMPT) == set(FAMILIES)


@pytest.mark.parametrize("family", FAMILIES)
def test_template_and_labels(family, tiny_family_dir):
    vlm = _load(tiny_family_dir(family))
    assert vlm.family.name == family  # detected from config.json (or fiubench_model.json)
    prompt = vlm.render_prompt("Q?")
    assert prompt == EXPECTED_PROMPT[family].replace("<IMG>", vlm.family.image_token)
    answers = ["red hair.", "the hair is red and long, 1.5 m."]
    batch = vlm.train_batch([(_img(), "what hair?", a) for a in answers])
    tok = vlm.tokenizer
    eot_id = tok.convert_tokens_to_ids(EXPECTED_EOT[family])
    for i, answer in enumerate(answers):
        labels = batch["labels"][i]
        scored = labels[labels != IGNORE_INDEX]
        # exactly the answer (+ the family's separator) followed by the end-of-turn token
        assert tok.decode(scored[:-1]).strip() == answer
        assert scored[-1].item() == eot_id
        # scored tokens are contiguous and equal the input ids there
        pos = (labels != IGNORE_INDEX).nonzero().flatten()
        assert (pos.diff() == 1).all()
        assert torch.equal(batch["input_ids"][i, pos], scored)
        # right padding: the last scored token is the last real token
        assert batch["attention_mask"][i, pos[-1] + 1:].sum() == 0
        assert batch["attention_mask"][i, : pos[-1] + 1].all()
    # a single BOS, never two (Llama 3 writes it in the template)
    bos = tok.bos_token_id
    if bos is not None:
        assert (batch["input_ids"][0] == bos).sum() <= 1
    # every processor output reaches the batch (model-agnostic)
    proc_keys = set(vlm._process([_img()], [prompt], "right"))
    assert proc_keys <= set(batch)


@pytest.mark.parametrize("family", FAMILIES)
def test_train_step_changes_only_the_scope(family, tiny_family_dir):
    scope = TuningScope(vision=False, projector=True, language=True)
    vlm = _load(tiny_family_dir(family), scope=scope)
    before = {n: p.detach().clone() for n, p in vlm.model.named_parameters()}
    trainable = {n for n, p in vlm.model.named_parameters() if p.requires_grad}
    assert all(vlm.family.part_of(n) in ("projector", "language") for n in trainable)
    assert any(vlm.family.part_of(n) == "projector" for n in trainable)
    assert not any(vlm.family.part_of(n) == "vision" for n in trainable)
    n_train, n_total = vlm.trainable_parameters()
    assert 0 < n_train < n_total
    opt = torch.optim.SGD([p for p in vlm.model.parameters() if p.requires_grad], lr=0.5)
    batch = vlm.train_batch([(_img(), "what hair?", "red hair.")])
    batch_nll(vlm.forward(batch), batch["labels"]).backward()
    opt.step()
    changed = {n for n, p in vlm.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed <= trainable
    assert any(vlm.family.part_of(n) == "language" for n in changed)
    assert any(vlm.family.part_of(n) == "projector" for n in changed)


@pytest.mark.parametrize("family", FAMILIES)
def test_lora_targets_and_roundtrip(family, tiny_family_dir, tmp_path):
    scope = TuningScope(lora=True, lora_r=4, lora_alpha=8, lora_dropout=0.0)
    vlm = _load(tiny_family_dir(family), scope=scope)
    targets = sorted(
        n.removeprefix("base_model.model.") for n, m in vlm.model.named_modules() if hasattr(m, "lora_A")
    )
    plain = _load(tiny_family_dir(family))
    assert targets == sorted(lora_target_modules(plain.hf_model, plain.family, scope))
    assert targets, "family default LoRA targets match nothing"
    assert all(vlm.family.part_of(t) == "language" for t in targets)
    # attention and MLP of every decoder block
    assert any(re.search(r"\.(q_proj|qkv_proj)$", t) for t in targets)
    assert any(t.endswith("down_proj") for t in targets)
    n_layers = len(plain.decoder_layers())
    assert {re.search(r"layers\.(\d+)\.", t).group(1) for t in targets} == {str(i) for i in range(n_layers)}
    trainable = [n for n, p in vlm.model.named_parameters() if p.requires_grad]
    assert any("lora_A" in n for n in trainable)
    assert any("modules_to_save" in n for n in trainable)  # the full projector
    assert not any(vlm.family.part_of(n) == "vision" and "lora_" not in n for n in trainable)
    # one step so the adapter and the projector differ from the base
    opt = torch.optim.SGD([p for p in vlm.model.parameters() if p.requires_grad], lr=0.5)
    batch = vlm.train_batch([(_img(), "what hair?", "red hair."), (_img((0, 0, 250)), "eyes?", "blue.")])
    batch_nll(vlm.forward(batch), batch["labels"]).backward()
    opt.step()
    vlm.save(tmp_path / "ckpt")
    files = {p.name for p in (tmp_path / "ckpt").iterdir()}
    assert "adapter_model.safetensors" in files and "fiubench_model.json" in files
    assert not any(f.endswith((".bin", ".pt", ".pth", ".pkl")) for f in files)
    again = _load(tmp_path / "ckpt", scope=scope)
    assert again.family.name == family
    vlm.model.eval()
    again.model.eval()
    with torch.no_grad():
        assert torch.equal(vlm.forward(batch), again.forward(batch))
        merged = _load(tmp_path / "ckpt")  # full-scope load merges the adapter
        merged.model.eval()
        torch.testing.assert_close(merged.forward(batch), vlm.forward(batch), atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("family", ["tiny", "llama-3.2-vision", "qwen2-vl", "llava-1.6"])
def test_full_save_roundtrip(family, tiny_family_dir, tmp_path):
    vlm = _load(tiny_family_dir(family))
    opt = torch.optim.SGD([p for p in vlm.model.parameters() if p.requires_grad], lr=0.5)
    batch = vlm.train_batch([(_img(), "what hair?", "red hair.")])
    batch_nll(vlm.forward(batch), batch["labels"]).backward()
    opt.step()
    vlm.save(tmp_path / "full")
    assert (tmp_path / "full" / "model.safetensors").is_file()
    again = _load(tmp_path / "full")
    vlm.model.eval()
    again.model.eval()
    with torch.no_grad():
        assert torch.equal(vlm.forward(batch), again.forward(batch))


@pytest.mark.parametrize("family", FAMILIES)
def test_generate_stops_at_end_of_turn(family, tiny_family_dir):
    """Force the LM head to emit token X twice then the end-of-turn token."""
    vlm = _load(tiny_family_dir(family))
    tok = vlm.tokenizer
    word = tok.convert_tokens_to_ids(tok.tokenize(" red")[-1])
    eot = tok.convert_tokens_to_ids(EXPECTED_EOT[family])
    assert eot in vlm.eos_token_ids()
    calls = {"n": 0}

    def hook(module, inputs, output):
        forced = word if calls["n"] < 2 else eot
        calls["n"] += 1
        output = output.clone()
        output[:, -1, forced] += 1e4
        return output

    lm_head = vlm.hf_model.get_output_embeddings()
    handle = lm_head.register_forward_hook(hook)
    try:
        out = vlm.generate([_img(), _img((0, 200, 0), (48, 40))], ["what hair?", "and the eyes, please?"],
                           max_new_tokens=20)
    finally:
        handle.remove()
    assert calls["n"] == 3  # prompt step + 2 more: stopped at end-of-turn, not at max_new_tokens
    expected = tok.decode([word, word], skip_special_tokens=True).strip()
    assert out == [expected, expected]


@pytest.mark.parametrize("family", FAMILIES)
def test_introspection(family, tiny_family_dir):
    vlm = _load(tiny_family_dir(family))
    layers = vlm.decoder_layers()
    assert len(layers) >= 2
    assert vlm.hidden_size() == 64 or family == "tiny"
    # every parameter belongs to one of the three parts
    assert all(vlm.family.part_of(n) is not None for n, _ in vlm.model.named_parameters())
