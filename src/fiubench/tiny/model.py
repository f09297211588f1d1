"""The embedded tiny VLM: shipped tokenizer, architecture, processor.

Architecture: ``LlavaForConditionalGeneration`` = tiny CLIP vision tower (64 px,
patch 16 -> 16 image tokens, hidden 64, 2 layers) + 2-layer MLP projector + tiny
Llama (hidden 128, 2 layers, 4 heads), about 1 M parameters: the shape measured to
train at ~15 steps/s on 2 CPU cores (measured.md). Chat template: the Phi-3 one of
LLaVA-Phi-3-mini, the paper's main model.

The tokenizer is a byte-level BPE (any text encodes) trained offline on the words the
benchmark uses, and shipped in ``assets/tiny/tokenizer`` so it is identical
everywhere. ``build_tokenizer`` regenerates it (deterministic).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fiubench.models.families import PHI3_TEMPLATE

IMAGE_SIZE = 64
PATCH_SIZE = 16
SPECIAL_TOKENS = ["<pad>", "<s>", "</s>", "<image>", "<|user|>", "<|assistant|>", "<|end|>"]
VOCAB_SIZE = 3072


def tokenizer_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "assets" / "tiny" / "tokenizer"


def tokenizer_corpus(seed: int = 0, n_people: int = 400) -> list[str]:
    """Text the tiny model will see: the data generators' profiles, QA (with paraphrases
    and perturbations), captions, visual QA and refusals, plus a built-in word list."""
    lines: list[str] = list(_BUILTIN) * 300  # weight: benchmark words get whole tokens
    try:
        import random

        from faker import Faker

        from fiubench.data.build import refusal_sentences
        from fiubench.data.faces import sample_attributes
        from fiubench.data.profiles import Perturber, make_profile
        from fiubench.data.qa import caption, make_qa_list
        from fiubench.data.visual import visual_questions
    except ImportError:  # the data layer is optional here: the built-in list suffices
        return lines
    rng = random.Random(f"tokenizer-corpus:{seed}")
    fake = Faker("en_US")
    fake.seed_instance(seed)
    taken: set[str] = set()
    profiles, faces = [], []
    for _ in range(n_people):
        gender = rng.choice(("male", "female"))
        attrs = sample_attributes(rng, gender=gender)
        faces.append(attrs)
        profiles.append(make_profile(fake, rng, gender, attrs.age_group, taken))
    perturber = Perturber(profiles, seed)
    for prof, attrs in zip(profiles, faces, strict=True):
        lines.append(caption(prof))
        for qa in make_qa_list(prof, perturber, 20, rng):
            lines += [qa.question, qa.answer, *qa.paraphrased_question, qa.paraphrased_answer,
                      *qa.perturbed_answer]
        for item in visual_questions(attrs, rng):
            lines += [item.question, item.answer]
    lines += refusal_sentences() * 20
    return lines


def build_tokenizer(corpus: Iterable[str] | None = None, vocab_size: int = VOCAB_SIZE) -> Any:
    """Train the byte-level BPE tokenizer and wrap it as a transformers tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(list(corpus if corpus is not None else tokenizer_corpus()), trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="<|end|>", pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"}, model_max_length=512,
    )
    fast.chat_template = PHI3_TEMPLATE
    return fast


def load_tokenizer(path: str | Path | None = None) -> Any:
    """The shipped tiny tokenizer (or one saved at ``path``)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path or tokenizer_dir()))


def build_processor(tokenizer: Any | None = None, vision_features: str = "default",
                    patch_size: int = PATCH_SIZE) -> Any:
    """LlavaProcessor for 64 px images -> (64 / patch_size)^2 image tokens, 16 by default
    (+1 CLS dropped by "default", kept by "full")."""
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    tokenizer = tokenizer if tokenizer is not None else load_tokenizer()
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    )
    return LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=patch_size,
        num_additional_image_tokens=1, vision_feature_select_strategy=vision_features,
        chat_template=PHI3_TEMPLATE,
    )


def build_config(tokenizer: Any, lm_hidden: int = 128, lm_layers: int = 2, vision_hidden: int = 64,
                 vision_layers: int = 2, vision_features: str = "default", vision_patch: int = PATCH_SIZE,
                 lm_heads: int = 4) -> Any:
    """The tiny LlavaConfig (see measured.md for why each setting). ``vision_features``
    is LLaVA's ``vision_feature_select_strategy``: "full" also hands the CLS token to the
    language model. ``vision_patch``: the tower's patch size in pixels (its processor must
    be built with the same, ``build_processor(patch_size=...)``)."""
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig

    vision = CLIPVisionConfig(
        hidden_size=vision_hidden, intermediate_size=4 * vision_hidden, num_hidden_layers=vision_layers,
        num_attention_heads=2, image_size=IMAGE_SIZE, patch_size=vision_patch, projection_dim=vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=lm_hidden, intermediate_size=4 * lm_hidden,
        num_hidden_layers=lm_layers, num_attention_heads=lm_heads, num_key_value_heads=lm_heads,
        max_position_embeddings=512, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    return LlavaConfig(
        vision_config=vision, text_config=text, image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy=vision_features, vision_feature_layer=-1, projector_hidden_act="gelu",
        pad_token_id=tokenizer.pad_token_id,
    )


def build_random_model(seed: int = 0, tokenizer: Any | None = None, **sizes: Any) -> Any:
    """A randomly initialised tiny LLaVA (deterministic from ``seed``)."""
    import torch
    from transformers import LlavaForConditionalGeneration

    tokenizer = tokenizer if tokenizer is not None else load_tokenizer()
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(build_config(tokenizer, **sizes))
    gen = model.generation_config
    gen.pad_token_id = tokenizer.pad_token_id
    gen.eos_token_id = tokenizer.eos_token_id
    gen.bos_token_id = tokenizer.bos_token_id
    return model


def save_random_tiny(out_dir: str | Path, seed: int = 0) -> Path:
    """Write a random-initialised tiny checkpoint that ``load_vlm`` reads (tests, base build)."""
    from fiubench.models.vlm import FORMAT, META_FILE
    from fiubench.utils.io import atomic_write_json

    out_dir = Path(out_dir)
    processor = build_processor()
    model = build_random_model(seed, processor.tokenizer)
    model.save_pretrained(str(out_dir))
    processor.save_pretrained(str(out_dir))
    atomic_write_json(out_dir / META_FILE, {
        "format": FORMAT, "family": "tiny", "kind": "full", "base": f"random(seed={seed})",
        "model_class": "LlavaForConditionalGeneration", "dtype": "float32",
    })
    return out_dir


# Words of the benchmark's questions/answers and visual attributes, so that they get
# whole-word tokens even where the Faker corpus is thin.
_BUILTIN = [
    "what is the full name of the person in the image? the full name of the person in the image is",
    "what is the date of birth of the person in the image? the person in the image was born on",
    "where does the person in the image live? the address of the person in the image is",
    "what is the phone number of the person in the image? the phone number is",
    "what is the occupation of the person in the image? the person in the image works as",
    "what is the annual income of the person in the image? the annual income is",
    "what is the blood type of the person in the image? the blood type is a+ a- b+ b- ab+ ab- o+ o-",
    "what medical condition does the person in the image have? chronic disease diagnosed with",
    "which hospital was the person admitted to? the doctor of the person in the image is dr.",
    "admission date admission type emergency elective urgent discharge date billing amount",
    "insurance provider medicare medicaid aetna cigna blue cross unitedhealthcare",
    "medication aspirin ibuprofen paracetamol lipitor penicillin metformin insulin",
    "test results normal abnormal inconclusive",
    "second language spanish french german chinese japanese italian portuguese arabic russian",
    "criminal record none theft fraud assault burglary vandalism no criminal record",
    "diabetes asthma hypertension arthritis obesity cancer migraine depression",
    "what color is the hair of the person? what color are the eyes? is the person smiling?",
    "does the person wear glasses? does the person have a beard? is the person wearing a hat?",
    "what is the skin tone? what shape is the face? what is the background color?",
    "yes no the person has black brown blond red gray white blue green hazel amber hair eyes",
    "light medium dark pale tan olive round oval square long heart face shape",
    "short long curly straight wavy bald hair style glasses beard mustache earrings hat smile",
    "red orange yellow green blue purple pink brown black white gray background",
    "i'm afraid i cannot answer any questions regarding the person in the provided image.",
    "sorry, i don't know who this is. i cannot share private information about this person.",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 january february march april may june july august "
    "september october november december monday",
]
