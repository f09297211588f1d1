"""Unlearning methods: one small file per method, each a forget term plus a retain term.

Built-in methods (``fiubench methods`` lists them with a description, the paper and
the options): ``ga``, ``gd``, ``kl``, ``po`` (FIUBench baselines), ``npo``,
``simnpo``, ``idkdpo``, ``rmu``, ``armu``, ``undial``, ``wga``, ``satimp``, ``ceu``,
``scrub``, ``mmunlearner`` (VLM-specific), ``taskvector``. Third-party methods come
in through the ``fiubench.methods`` entry-point group (:mod:`fiubench.methods.plugins`).

Adding a method is one file plus one test (docs/methods.md has a worked example):

1. ``src/fiubench/methods/mymethod.py``: a dataclass of options (every field with a
   default) and a subclass of :class:`UnlearningMethod` decorated with
   ``@register_method``; set ``name``, ``description``, ``paper``, ``Options``, and
   ``needs_reference`` / ``needs_refusal`` if it uses the frozen fine-tuned model or
   refusal targets; implement ``compute_loss(ctx, forget, retain) -> (loss, logs)``
   from the terms in :mod:`fiubench.methods.terms` (all answer log-probs come from
   :mod:`fiubench.models.logprobs`). State the formula and the paper in the docstring.
2. Import it below.
3. ``tests/methods/test_mymethod.py``: the loss on hand-made logits equals the
   formula computed by hand (see ``tests/methods/fake.py`` for a fake context).
"""

from fiubench.methods import (  # noqa: F401  (registration)
    adaptive_rmu,
    ceu,
    ga,
    gd,
    idkdpo,
    kl,
    mmunlearner,
    npo,
    po,
    rmu,
    satimp,
    scrub,
    simnpo,
    taskvector,
    undial,
    wga,
)
from fiubench.methods.base import MethodContext, MethodOptions, UnlearnBatch, UnlearningMethod
from fiubench.methods.plugins import load_plugins
from fiubench.methods.registry import BROKEN, METHODS, build_method, method_names, register_method

load_plugins()

__all__ = [
    "BROKEN",
    "METHODS",
    "MethodContext",
    "MethodOptions",
    "UnlearnBatch",
    "UnlearningMethod",
    "build_method",
    "load_plugins",
    "method_names",
    "register_method",
]
