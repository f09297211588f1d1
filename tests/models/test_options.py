"""dtype, gradient checkpointing, scopes, generation batching."""

from __future__ import annotations

import torch

from fiubench.models import ModelConfig, TuningScope, load_vlm
from fiubench.models.logprobs import batch_nll


def test_bf16_and_gradient_checkpointing(tiny_vlm_dir, face_image):
    vlm = load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir), dtype="bfloat16", gradient_checkpointing=True,
                               scope=TuningScope(lora=True, lora_r=2, lora_alpha=4)))
    assert vlm.dtype == torch.bfloat16
    assert vlm.hf_model.is_gradient_checkpointing
    batch = vlm.train_batch([(face_image, "q?", "a.")])
    assert batch["pixel_values"].dtype == torch.bfloat16
    loss = batch_nll(vlm.forward(batch), batch["labels"])
    loss.backward()
    grads = [p.grad for n, p in vlm.model.named_parameters() if "lora_B" in n]
    assert grads and all(g is not None for g in grads)


def test_vision_only_scope(tiny_vlm_dir):
    vlm = load_vlm(ModelConfig(name_or_path=str(tiny_vlm_dir),
                               scope=TuningScope(vision=True, projector=False, language=False)))
    trainable = {vlm.family.part_of(n) for n, p in vlm.model.named_parameters() if p.requires_grad}
    assert trainable == {"vision"}
    n_train, n_total = vlm.trainable_parameters()
    assert n_train == sum(p.numel() for p in vlm.hf_model.model.vision_tower.parameters())


def test_generate_batched_equals_single(tiny_vlm, face_image):
    """Left padding: a sample's greedy answer does not depend on its batch mates."""
    from PIL import Image

    other = Image.new("RGB", (64, 64), (10, 200, 30))
    questions = ["what colour is the hair?", "is the person in the image wearing a very large hat today?"]
    batched = tiny_vlm.generate([face_image, other], questions, max_new_tokens=6)
    single = [tiny_vlm.generate([im], [q], max_new_tokens=6)[0]
              for im, q in zip([face_image, other], questions, strict=True)]
    assert batched == single


def test_train_batch_answer_variants_share_prompt(tiny_vlm, face_image):
    variants = ["the hair is red.", "the hair is blue.", "the hair is long and green, 1.5 m."]
    batch = tiny_vlm.train_batch([(face_image, "hair?", a) for a in variants])
    first = (batch["labels"] != -100).int().argmax(1)
    assert (first == first[0]).all()  # same prompt length for every variant
    assert torch.equal(batch["pixel_values"][0], batch["pixel_values"][2])
