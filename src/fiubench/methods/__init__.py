"""Unlearning methods: one small file per method, each a forget term plus a retain term.

Registered methods: ``ga``, ``gd``, ``kl``, ``po`` (FIUBench baselines), ``npo``,
``simnpo``, ``idkdpo``, ``rmu`` (later standards). ``fiubench methods`` lists them
with their options.

Adding a method is one file plus one test:

1. ``src/fiubench/methods/mymethod.py``: a dataclass of options (every field with a
   default) and a subclass of :class:`UnlearningMethod` decorated with
   ``@register_method``; set ``name``, ``Options``, and ``needs_reference`` /
   ``needs_refusal`` if it uses the frozen fine-tuned model or refusal targets;
   implement ``compute_loss(ctx, forget, retain) -> (loss, logs)`` from the terms in
   :mod:`fiubench.methods.terms` (all answer log-probs come from
   :mod:`fiubench.models.logprobs`). State the formula and the paper in the docstring.
2. Import it below.
3. ``tests/methods/test_mymethod.py``: the loss on hand-made logits equals the
   formula computed by hand (see ``tests/methods/fake.py`` for a fake context).
"""

from fiubench.methods import ga, gd, idkdpo, kl, npo, po, rmu, simnpo  # noqa: F401  (registration)
from fiubench.methods.base import MethodContext, MethodOptions, UnlearnBatch, UnlearningMethod
from fiubench.methods.registry import METHODS, build_method, method_names, register_method

__all__ = [
    "METHODS",
    "MethodContext",
    "MethodOptions",
    "UnlearnBatch",
    "UnlearningMethod",
    "build_method",
    "method_names",
    "register_method",
]
