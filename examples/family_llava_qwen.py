"""LLaVA-Interleave-Qwen: LLaVA on a Qwen2 language model (an example model family in one file).

``llava-hf/llava-interleave-qwen-0.5b-hf`` is a ``LlavaForConditionalGeneration`` whose
``config.json`` says ``model_type: llava`` with a ``qwen2`` text model. Without this
file it would be detected as LLaVA-1.5 and written with the Vicuna template and ``</s>``
as end of turn; its own turns are ChatML (``<|im_start|>`` ... ``<|im_end|>``). A family
is what fiubench needs that ``config.json`` does not say: the template, the token that
ends an answer, where the tower, projector and language model live, and the LoRA
targets. Inside fiubench this ``FAMILIES.add`` goes in ``src/fiubench/models/families.py``;
``tests/examples/test_examples.py`` checks that it resolves by name and from a config,
and that its module prefixes cover every parameter of a tiny random LLaVA.
"""

from __future__ import annotations

from fiubench.models.families import FAMILIES, QWEN_VL_TEMPLATE, FamilySpec

# Qwen2's decoder blocks: the same projections as Llama's.
QWEN2_LINEARS = r"(self_attn)\.(q_proj|k_proj|v_proj|o_proj)|mlp\.(gate_proj|up_proj|down_proj)"

TEMPLATE = QWEN_VL_TEMPLATE.replace("<|vision_start|><|image_pad|><|vision_end|>", "<image>")

FAMILIES.add("llava-interleave-qwen", FamilySpec(
    name="llava-interleave-qwen", model_class="LlavaForConditionalGeneration", model_types=("llava",),
    default_checkpoint="llava-hf/llava-interleave-qwen-0.5b-hf",
    description="LLaVA-Interleave (SigLIP + Qwen2-0.5B), ChatML template",
    chat_template=TEMPLATE, answer_prefix="", end_of_turn="<|im_end|>", image_token="<image>",
    vision_prefixes=("model.vision_tower",), projector_prefixes=("model.multi_modal_projector",),
    language_prefixes=("model.language_model", "lm_head"), language_model_path="model.language_model",
    lora_target_regex=rf"model\.language_model\.layers\.\d+\.({QWEN2_LINEARS})",
    text_model_type="qwen2",
))
