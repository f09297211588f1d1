"""VLM families: chat template, image placement, end-of-turn token, module layout.

A family is everything fiubench needs to know about an architecture that is not in
its ``config.json``: how a turn is written (the template, equivalent to the one the
real checkpoint ships; the checkpoint's own template wins when it has one), which
token ends an assistant turn (labels end with it, so generation stops by itself,
unlike upstream FIUBench which cut generations at the first "."), and where the
vision tower, projector and language model live (for freezing, LoRA and RMU).

Module names are matched by prefix on ``model.named_parameters()`` /
``named_modules()``; a projector prefix wins over a vision prefix (Qwen2-VL keeps its
merger inside ``model.visual``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fiubench.utils.registry import Registry

# LoRA on every linear layer of the language model's decoder blocks (attention + MLP),
# the usual choice (QLoRA, LLaVA, the FIUBench recipe r=128, alpha=256).
_LLAMA_LINEARS = r"(self_attn|cross_attn)\.(q_proj|k_proj|v_proj|o_proj)|mlp\.(gate_proj|up_proj|down_proj)"
_PHI3_LINEARS = r"self_attn\.(qkv_proj|o_proj)|mlp\.(gate_up_proj|down_proj)"


def _lora_regex(lm_prefix: str, linears: str) -> str:
    return re.escape(lm_prefix) + r"\.layers\.\d+\.(" + linears + ")"


# --- chat templates (Jinja, HF message format with content lists) -------------------
# Gotcha (measured.md): a literal newline right after {% endif %} is dropped; write {{ '\n' }}.

PHI3_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' }}{{ '\n' }}"
    "{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}{{ '<image>' }}{{ '\n' }}{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}"
    "{{ '<|end|>' }}{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{{ '\n' }}{% endif %}"
)

# llava-hf/llava-1.5-7b-hf: "USER: <image>\n{Q} ASSISTANT:"
VICUNA_LLAVA_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] != 'system' %}{{ message['role'].upper() + ': ' }}{% endif %}"
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}{{ '<image>' }}{{ '\n' }}{% endif %}{% endfor %}"
    "{% for c in message['content'] %}{% if c['type'] == 'text' %}{{ c['text'] + ' ' }}{% endif %}{% endfor %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

# llava-hf/llava-v1.6-mistral-7b-hf: "[INST] <image>\n{Q} [/INST]"
MISTRAL_LLAVA_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' }}"
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}{{ '<image>' }}{{ '\n' }}{% endif %}{% endfor %}"
    "{% for c in message['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}"
    "{{ ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{% for c in message['content'] %}{% if c['type'] == 'text' %}{{ ' ' + c['text'] }}{% endif %}{% endfor %}"
    "{{ '</s>' }}"
    "{% endif %}"
    "{% endfor %}"
)

# meta-llama/Llama-3.2-11B-Vision-Instruct (no system message, image first).
LLAMA3_VISION_TEMPLATE = (
    "{{ '<|begin_of_text|>' }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>' }}{{ '\n\n' }}"
    "{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}{{ '<|image|>' }}{% else %}{{ c['text'] }}{% endif %}"
    "{% endfor %}"
    "{{ '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>' }}{{ '\n\n' }}{% endif %}"
)

# HuggingFaceM4/idefics2-8b: "User:<image>{Q}<end_of_utterance>\nAssistant:"
IDEFICS2_TEMPLATE = (
    "{% for message in messages %}"
    "{{ message['role'].capitalize() }}"
    "{% if message['content'][0]['type'] == 'image' %}{{ ':' }}{% else %}{{ ': ' }}{% endif %}"
    "{% for c in message['content'] %}"
    "{% if c['type'] == 'text' %}{{ c['text'] }}{% elif c['type'] == 'image' %}{{ '<image>' }}{% endif %}"
    "{% endfor %}"
    "{{ '<end_of_utterance>' }}{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# Qwen/Qwen2-VL-7B-Instruct and Qwen2.5-VL (default system message).
QWEN_VL_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system' }}{{ '\n' }}{{ 'You are a helpful assistant.<|im_end|>' }}{{ '\n' }}"
    "{% endif %}"
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] }}{{ '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>' }}{{ '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant' }}{{ '\n' }}{% endif %}"
)


@dataclass(frozen=True)
class FamilySpec:
    """What fiubench needs to know about one VLM architecture.

    Attributes:
        name: family id used in configs (``ModelConfig.family``).
        model_class: the ``transformers`` class that loads it.
        model_types: ``config.json`` ``model_type`` values this class reads.
        default_checkpoint: the Hub id researchers use (listed by ``fiubench models``).
        chat_template: Jinja template equivalent to the real checkpoint's; used when the
            processor ships none.
        answer_prefix: text between the generation prompt and the answer (" " after
            "ASSISTANT:").
        end_of_turn: token that ends an assistant turn; labels end with it and
            generation stops on it.
        image_token: placeholder the template puts where the image goes.
        vision_prefixes / projector_prefixes / language_prefixes: parameter-name
            prefixes of the three parts (projector wins over vision).
        language_model_path: dotted path of the decoder stack (has ``.layers``).
        lora_target_regex: default LoRA targets (full-match on module names).
        text_model_type: disambiguates families sharing ``model_type`` ("llava").
    """

    name: str
    model_class: str
    model_types: tuple[str, ...]
    default_checkpoint: str
    description: str
    chat_template: str
    answer_prefix: str
    end_of_turn: str
    image_token: str
    vision_prefixes: tuple[str, ...]
    projector_prefixes: tuple[str, ...]
    language_prefixes: tuple[str, ...]
    language_model_path: str
    lora_target_regex: str
    text_model_type: str | None = None

    def part_of(self, param_name: str) -> str | None:
        """'vision' | 'projector' | 'language' | None for a parameter/module name."""
        name = _strip_peft(param_name)
        for kind, prefixes in (
            ("projector", self.projector_prefixes),
            ("vision", self.vision_prefixes),
            ("language", self.language_prefixes),
        ):
            if any(name == p or name.startswith(p + ".") for p in prefixes):
                return kind
        return None


def _strip_peft(name: str) -> str:
    """Parameter name as in the plain HF model (drop PEFT's wrappers)."""
    if name.startswith("base_model.model."):
        name = name[len("base_model.model."):]
    for wrapper in (".base_layer", ".modules_to_save.default", ".original_module"):
        name = name.replace(wrapper, "")
    return name


FAMILIES: Registry[FamilySpec] = Registry("model family")

_LLAVA_PARTS = dict(
    vision_prefixes=("model.vision_tower",),
    projector_prefixes=("model.multi_modal_projector",),
    language_prefixes=("model.language_model", "lm_head"),
    language_model_path="model.language_model",
    image_token="<image>",
)

FAMILIES.add("tiny", FamilySpec(
    name="tiny", model_class="LlavaForConditionalGeneration", model_types=("llava",),
    default_checkpoint="tiny",
    description="embedded ~1 M-parameter LLaVA (tiny CLIP + tiny Llama, 64 px), shipped in the package",
    chat_template=PHI3_TEMPLATE, answer_prefix="", end_of_turn="<|end|>",
    lora_target_regex=_lora_regex("model.language_model", _LLAMA_LINEARS), **_LLAVA_PARTS,
))
FAMILIES.add("llava-1.5", FamilySpec(
    name="llava-1.5", model_class="LlavaForConditionalGeneration", model_types=("llava",),
    default_checkpoint="llava-hf/llava-1.5-7b-hf",
    description="LLaVA-1.5 (CLIP ViT-L/336 + Vicuna), Vicuna template",
    chat_template=VICUNA_LLAVA_TEMPLATE, answer_prefix=" ", end_of_turn="</s>",
    lora_target_regex=_lora_regex("model.language_model", _LLAMA_LINEARS), text_model_type="llama",
    **_LLAVA_PARTS,
))
FAMILIES.add("llava-phi-3-mini", FamilySpec(
    name="llava-phi-3-mini", model_class="LlavaForConditionalGeneration", model_types=("llava",),
    default_checkpoint="xtuner/llava-phi-3-mini-hf",
    description="LLaVA with Phi-3-mini (the FIUBench paper's main model), Phi-3 template",
    chat_template=PHI3_TEMPLATE, answer_prefix="", end_of_turn="<|end|>",
    lora_target_regex=_lora_regex("model.language_model", _PHI3_LINEARS + "|" + _LLAMA_LINEARS),
    text_model_type="phi3", **_LLAVA_PARTS,
))
FAMILIES.add("llava-1.6", FamilySpec(
    name="llava-1.6", model_class="LlavaNextForConditionalGeneration", model_types=("llava_next",),
    default_checkpoint="llava-hf/llava-v1.6-mistral-7b-hf",
    description="LLaVA-NeXT (any-resolution tiling), Mistral [INST] template",
    chat_template=MISTRAL_LLAVA_TEMPLATE, answer_prefix=" ", end_of_turn="</s>",
    vision_prefixes=("model.vision_tower",),
    projector_prefixes=("model.multi_modal_projector", "model.image_newline"),
    language_prefixes=("model.language_model", "lm_head"),
    language_model_path="model.language_model", image_token="<image>",
    lora_target_regex=_lora_regex("model.language_model", _LLAMA_LINEARS),
))
FAMILIES.add("llama-3.2-vision", FamilySpec(
    name="llama-3.2-vision", model_class="MllamaForConditionalGeneration", model_types=("mllama",),
    default_checkpoint="meta-llama/Llama-3.2-11B-Vision-Instruct",
    description="Llama-3.2-Vision (cross-attention image layers), Llama-3 template",
    chat_template=LLAMA3_VISION_TEMPLATE, answer_prefix="", end_of_turn="<|eot_id|>",
    vision_prefixes=("model.vision_model",),
    projector_prefixes=("model.multi_modal_projector",),
    language_prefixes=("model.language_model", "lm_head"),
    language_model_path="model.language_model", image_token="<|image|>",
    lora_target_regex=_lora_regex("model.language_model", _LLAMA_LINEARS),
))
FAMILIES.add("idefics2", FamilySpec(
    name="idefics2", model_class="Idefics2ForConditionalGeneration", model_types=("idefics2",),
    default_checkpoint="HuggingFaceM4/idefics2-8b",
    description="Idefics2 (SigLIP + perceiver resampler + Mistral-7B)",
    chat_template=IDEFICS2_TEMPLATE, answer_prefix=" ", end_of_turn="<end_of_utterance>",
    vision_prefixes=("model.vision_model",),
    projector_prefixes=("model.connector",),
    language_prefixes=("model.text_model", "lm_head"),
    language_model_path="model.text_model", image_token="<image>",
    lora_target_regex=_lora_regex("model.text_model", _LLAMA_LINEARS),
))
for _name, _cls, _mt, _ckpt in (
    ("qwen2-vl", "Qwen2VLForConditionalGeneration", "qwen2_vl", "Qwen/Qwen2-VL-7B-Instruct"),
    ("qwen2.5-vl", "Qwen2_5_VLForConditionalGeneration", "qwen2_5_vl", "Qwen/Qwen2.5-VL-7B-Instruct"),
):
    FAMILIES.add(_name, FamilySpec(
        name=_name, model_class=_cls, model_types=(_mt,), default_checkpoint=_ckpt,
        description=f"{_ckpt.split('/')[1]} (dynamic resolution, M-RoPE), ChatML template",
        chat_template=QWEN_VL_TEMPLATE, answer_prefix="", end_of_turn="<|im_end|>",
        vision_prefixes=("model.visual",), projector_prefixes=("model.visual.merger",),
        language_prefixes=("model.language_model", "lm_head"),
        language_model_path="model.language_model", image_token="<|image_pad|>",
        lora_target_regex=_lora_regex("model.language_model", _LLAMA_LINEARS),
    ))


def list_families() -> list[FamilySpec]:
    """Every supported family, in registration order."""
    return [spec for _, spec in FAMILIES.items()]


def get_family(name: str) -> FamilySpec:
    """The family called ``name``; an error listing the supported ones otherwise."""
    from fiubench.errors import ConfigError

    try:
        return FAMILIES.get(name)
    except Exception as e:  # Registry raises FiubenchError; re-raise as a config error
        raise ConfigError(f"model.family: {e}") from None


def detect_family(config: dict[str, object]) -> FamilySpec | None:
    """The family a ``config.json`` dict belongs to (None when unsupported)."""
    model_type = config.get("model_type")
    candidates = [f for f in list_families() if model_type in f.model_types and f.name != "tiny"]
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    text_config = config.get("text_config") or {}
    text_type = text_config.get("model_type") if isinstance(text_config, dict) else None
    for f in candidates:
        if f.text_model_type == text_type:
            return f
    # LLaVA on another LM (Mistral, Vicuna-13B...): the LLaVA-1.5 conventions.
    return next(f for f in candidates if f.name == "llava-1.5")
