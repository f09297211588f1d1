"""The scale benchmarks run (small sizes): the GPU script's CPU mode and the data-scale script."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from .bench import load_benchmark

pytestmark = pytest.mark.slow


def _load(name: str):
    return load_benchmark(name)


def test_bench_gpu_small_mode_measures_every_phase(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    res = _load("bench_gpu").main(["--small", "--models", "llava-1.5-7b", "--steps", "1", "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(res))
    m = res["models"]["llava-1.5-7b"]
    lora, full = m["train_lora"], m["train_full"]
    assert lora["examples_per_s"] > 0 and full["examples_per_s"] > 0 and math.isfinite(lora["final_loss"])
    # LoRA trains adapters + projector only: far fewer parameters than full fine-tuning
    assert lora["params"]["trainable"] < full["params"]["trainable"]
    assert lora["params"]["language"] == full["params"]["language"]  # same base model
    once, each = m["eval_encode_once"], m["eval_encode_each"]
    assert once["fast_path"] and not each["fast_path"]
    assert once["qa"] == each["qa"] and once["image_encodes"] < each["image_encodes"]
    assert once["qa_per_s"] > 0 and each["qa_per_s"] > 0


def test_real_size_configs_have_the_published_shapes() -> None:
    """7B / 3.8B language models, ViT-L/14 at 336 px: counted from the configs, no weights built."""
    bench = _load("bench_gpu")
    from fiubench.tiny.model import load_tokenizer

    tok = load_tokenizer()
    for name, lo, hi in (("llava-1.5-7b", 6.5e9, 7.0e9), ("llava-phi-3-mini", 3.7e9, 4.0e9)):
        cfg = bench.build_config(name, tok, small=False)
        t = cfg.text_config
        mlp = 3 * t.hidden_size * t.intermediate_size
        attn = 4 * t.hidden_size * t.hidden_size
        lm = t.num_hidden_layers * (mlp + attn) + 2 * t.vocab_size * t.hidden_size
        assert lo < lm < hi, (name, lm)
        v = cfg.vision_config
        assert (v.image_size // v.patch_size) ** 2 == 576 and v.hidden_size == 1024 and v.num_hidden_layers == 24


def test_bench_data_scale_runs_and_prints_ratios(tmp_path: Path, capsys) -> None:
    _load("bench_data_scale").main(["--sizes", "10", "20"])
    text = capsys.readouterr().out
    assert "10 identities" in text and "20 identities" in text
    assert "size x2" in text and "time x" in text and "peak memory x" in text
