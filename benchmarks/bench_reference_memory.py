"""Peak memory of a KL unlearning run with a LoRA scope: the disabled adapter as the
reference model (``unlearn.reference: auto``) vs a second loaded copy (``copy``).

    python benchmarks/bench_reference_memory.py [--hidden 512] [--layers 8] [--steps 4]

A random LLaVA with the tiny layout but a wider and deeper language model (so that
one copy of the weights is large next to the Python/torch runtime) is unlearned with
KL on LoRA r=8 + the projector, in a fresh process per mode; each process reports its
peak resident set size (``ru_maxrss``, what the run's ``summary.json`` records on CPU)
and its wall time. Prints both, the ratio and the size of one copy of the weights.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
from pathlib import Path
from fiubench.models import ModelConfig, TuningScope
from fiubench.train import UnlearnConfig, unlearn
from fiubench.train.config import UnlearnTrainConfig
model, data, out, mode, steps = sys.argv[1:6]
scope = TuningScope(vision=False, projector=True, language=True, lora=True, lora_r=8, lora_alpha=16)
t = time.perf_counter()
run = unlearn(UnlearnConfig(model=ModelConfig(name_or_path=model, scope=scope, device="cpu"), data=Path(data),
                            out=Path(out), method="kl", forget="forget20", reference=mode, early_stop=False,
                            train=UnlearnTrainConfig(max_steps=int(steps), batch_size=4, progress=False,
                                                     save_every=10**6)))
s = json.loads((run / "summary.json").read_text())
print(json.dumps({"peak": s["peak_memory_bytes"], "kind": s["peak_memory_kind"], "reference": s["reference"],
                  "wall": time.perf_counter() - t}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--steps", type=int, default=4)
    a = ap.parse_args()

    from fiubench.data.build import DataConfig, build_dataset
    from fiubench.models.vlm import FORMAT, META_FILE
    from fiubench.tiny.model import build_processor, build_random_model
    from fiubench.utils.io import atomic_write_json

    tmp = Path(tempfile.mkdtemp(prefix="bench_reference_memory."))
    data = build_dataset(DataConfig(n_identities=10, qa_per_identity=4, forget_percents=(20,),
                                    retain_percents=(10,)), tmp / "data")
    proc = build_processor()
    model = build_random_model(0, proc.tokenizer, lm_hidden=a.hidden, lm_layers=a.layers)
    n_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    model.save_pretrained(str(tmp / "model"))
    proc.save_pretrained(str(tmp / "model"))
    atomic_write_json(tmp / "model" / META_FILE, {"format": FORMAT, "family": "tiny", "kind": "full",
                                                  "base": "random", "model_class": "LlavaForConditionalGeneration",
                                                  "dtype": "float32"})
    del model
    res = {}
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    for mode in ("auto", "copy"):
        out = subprocess.run([sys.executable, "-c", CHILD, str(tmp / "model"), str(data), str(tmp / f"run-{mode}"),
                              mode, str(a.steps)], capture_output=True, text=True, env=env, check=True)
        res[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    mib = 2**20
    print(f"one copy of the weights: {n_bytes / mib:.0f} MiB ({a.layers} layers x hidden {a.hidden})")
    for mode, label in (("auto", "disabled adapter"), ("copy", "second copy")):
        r = res[mode]
        print(f"{label:17s} peak {r['peak'] / mib:7.0f} MiB ({r['kind']})  wall {r['wall']:5.1f} s  "
              f"[summary: reference = {r['reference']}]")
    print(f"peak memory ratio disabled adapter / second copy: {res['auto']['peak'] / res['copy']['peak']:.2f} "
          f"(saves {(res['copy']['peak'] - res['auto']['peak']) / mib:.0f} MiB)")


if __name__ == "__main__":
    main()
