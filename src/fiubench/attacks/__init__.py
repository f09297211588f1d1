"""Attacks on an unlearned model: did it really forget?

Each attack takes one model and measures how much of the forget identities' private
information it still gives away (keyword exact match, so templates never count);
run on the fine-tuned and the retain model too, it gets its two baselines
(``fiubench.metrics.robustness``: informative or not, recovery, worst case, robust
FQ). Registered attacks: ``relearn``, ``quantization``, ``text_only``,
``image_perturbation``, ``profile_dump``, ``prefill``, ``pgd``, ``universal``,
``typographic``, ``jailbreak``, ``best_of_n``, ``hidden_probe``. ``fiubench attack --help``
lists them; docs/attacks.md describes them with a worked example.

Adding an attack is one file plus one test:

1. ``src/fiubench/attacks/myattack.py``: an options dataclass (every field with a
   default) and a subclass of :class:`Attack` decorated with ``@register_attack``; set
   ``name`` and ``summary``; validate options in ``check``; implement
   ``run(model_dir, ctx) -> AttackOutcome``, generating with ``ctx.engine(vlm)`` (the
   evaluation engine) and scoring with the helpers of :mod:`fiubench.attacks.probes`.
   State the recipe and the paper in the docstring.
2. Import it below.
3. ``tests/attacks/test_myattack.py``: the attack runs on a tiny model and its
   probes target what they should (see ``tests/attacks``).
"""

from fiubench.attacks import (  # noqa: F401  (registration)
    best_of_n,
    hidden_probe,
    image_perturbation,
    jailbreak,
    pgd,
    prefill,
    profile_dump,
    quantization,
    relearn,
    text_only,
    typographic,
    universal,
)
from fiubench.attacks.base import Attack, AttackContext, AttackOptions, AttackOutcome
from fiubench.attacks.registry import (
    ATTACKS,
    attack_names,
    build_attack,
    parse_attack_list,
    register_attack,
)
from fiubench.attacks.runner import run_attack, summarise_attacks

__all__ = [
    "ATTACKS",
    "Attack",
    "AttackContext",
    "AttackOptions",
    "AttackOutcome",
    "attack_names",
    "build_attack",
    "parse_attack_list",
    "register_attack",
    "run_attack",
    "summarise_attacks",
]
