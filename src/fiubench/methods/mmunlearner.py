"""MMUnlearner, saliency-masked unlearning for multimodal LLMs (Huo et al. 2025, "MMUnlearner:
Reformulating Multimodal Machine Unlearning in the Era of Multimodal Large Language
Models", Findings of ACL 2025, arXiv 2502.11051; reference code Z1zs/MMUnlearner).

Before the first step, the diagonal empirical Fisher information of every masked
weight entry is estimated on forget and on retain batches (one pass over the forget
set, with as many paired retain batches):

    F_f[i] = mean_b (d CE(forget batch b) / d W_i)^2,   F_r[i] likewise on retain
    M[i]   = (F_f[i] + eps) / (F_r[i] + eps) >= threshold            (threshold 1)

Each step then descends L = -w_f * CE(forget) + w_r * CE(retain) with the gradient

    grad = M * grad(-w_f * CE(forget)) + grad(w_r * CE(retain))

the forget (ascent) gradient masked entry-wise, the retain gradient unmasked: only the
entries that carry the forget knowledge more than the retain knowledge are pushed by
the ascent, while the retain term may move every trainable entry.

Which entries are masked follows the reference: the weights (and biases) of the
linear layers, except the LM head; norms, embeddings and the LM head get the
unmasked forget gradient, as there. Under LoRA the Fisher and the mask are those of
the base weight W the adapter modifies (the merged weight W + s*B*A equals W at the
start, where B = 0, so the Fisher of A would be 0): the forget gradient of the merged
weight is masked and pulled back to the adapter through dW = s*B*A,

    grad_A = s * B^T (M * G_W),     grad_B = s * (M * G_W) A^T,

which is exactly the gradient the adapter gets when the merged weight's gradient is M * G_W.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from fiubench.errors import ConfigError
from fiubench.methods.base import (
    ONE_EPOCH,
    MethodContext,
    MethodOptions,
    UnlearnBatch,
    UnlearningMethod,
    option,
)
from fiubench.methods.registry import register_method
from fiubench.methods.terms import nll

_REPO = "Z1zs/MMUnlearner"


@dataclass
class MMUnlearnerOptions(MethodOptions):
    threshold: float = option(1.0, f"{_REPO} data_process/MLLMU_gen_mask.py:81,84 (threshold=1), "
                                   "SFRon.py:118-119 (saliency >= threshold)")
    eps: float = option(1e-15, f"{_REPO} data_process/SFRon.py:118 ((F_f + 1e-15) / (F_r + 1e-15))")
    fisher_batches: int = option(ONE_EPOCH, f"{_REPO} data_process/SFRon.py:57,93 (the whole forget "
                                            "loader; -1 = one pass over the forget set)")
    forget_weight: float = option(1.0, f"{_REPO} baselines/MLLMU_manifold.py:298 (--forget_alpha 1.0)")
    retain_weight: float = option(1.0, f"{_REPO} baselines/MLLMU_manifold.py:254 (retain loss unweighted)")
    vision: bool = option(True, f"{_REPO} data_process/MLLMU_gen_mask.py:81 (mask over vision_tower "
                                "and multi_modal_projector); paper Sec. 4")


@dataclass
class Target:
    """A tensor whose forget gradient is masked.

    ``wrt`` is the tensor the Fisher is taken with respect to: the parameter itself, or
    for a LoRA-wrapped linear layer its frozen base weight, with ``lora`` = (A, B, s).
    """

    name: str
    wrt: torch.Tensor
    lora: tuple[torch.Tensor, torch.Tensor, float] | None = None


def masked_targets(model: nn.Module) -> tuple[list[Target], list[tuple[str, nn.Parameter]]]:
    """(linear-layer tensors whose forget gradient is masked, the other trainable parameters).

    The reference masks the entries of names containing proj/fc/linear/mlp/qkv
    (baselines/MLLMU_manifold.py:158-175): the linear layers of LLaVA and Qwen2-VL, not
    the LM head, norms or embeddings, whose forget gradient stays unmasked there.
    """
    get_head = getattr(model, "get_output_embeddings", None)
    head = get_head() if callable(get_head) else None
    targets: list[Target] = []
    covered: set[int] = set()
    for mname, mod in model.named_modules():
        base = getattr(mod, "base_layer", None)
        if hasattr(mod, "lora_A") and isinstance(base, nn.Linear):
            adapter = mod.active_adapters[0]
            a, b = mod.lora_A[adapter].weight, mod.lora_B[adapter].weight
            covered.update((id(a), id(b), id(base.weight)))
            if a.requires_grad and b.requires_grad and base is not head:
                targets.append(Target(f"{mname}.base_layer.weight", base.weight,
                                      (a, b, float(mod.scaling[adapter]))))
            continue
        if not isinstance(mod, nn.Linear) or mod is head or ".lora_" in f".{mname}":
            continue
        for pname, p in mod.named_parameters(recurse=False):
            if p.requires_grad and id(p) not in covered:
                targets.append(Target(f"{mname}.{pname}", p))
                covered.add(id(p))
    unmasked = [(n, p) for n, p in model.named_parameters() if p.requires_grad and id(p) not in covered]
    return targets, unmasked


def saliency_masks(fisher_forget: dict[str, torch.Tensor], fisher_retain: dict[str, torch.Tensor],
                   threshold: float, eps: float) -> dict[str, torch.Tensor]:
    """Boolean masks (F_f + eps) / (F_r + eps) >= threshold, entry-wise, on the Fisher's device."""
    return {n: (f + eps) / (fisher_retain[n] + eps) >= threshold for n, f in fisher_forget.items()}


def masked_surrogate(targets: list[Target], grads: list[torch.Tensor | None], masks: dict[str, torch.Tensor],
                     unmasked: list[tuple[torch.Tensor, torch.Tensor | None]]) -> torch.Tensor:
    """A scalar whose gradient is the masked forget gradient (its value is meaningless).

    For a plain tensor p: sum(p * sg(M * G)); for a LoRA base weight:
    s * sum(B * sg(M * G) A^T), whose gradients are s (M*G) A^T for B and s B^T (M*G) for A.
    """
    terms: list[torch.Tensor] = []
    for t, g in zip(targets, grads, strict=True):
        if g is None:
            continue
        gm = (g * masks[t.name].to(g.dtype)).detach()
        if t.lora is None:
            terms.append((t.wrt * gm.to(t.wrt.dtype)).sum())
        else:
            a, b, s = t.lora
            terms.append(s * (b * (gm.to(a.dtype) @ a.detach().t())).sum() + s * (a * (b.detach().t() @ gm.to(b.dtype))).sum())
    terms.extend((p * g.detach()).sum() for p, g in unmasked if g is not None)
    if not terms:
        raise RuntimeError("mmunlearner: the forget loss reaches no trainable parameter")
    return torch.stack([x.float() for x in terms]).sum()


@contextlib.contextmanager
def _with_grad(tensors: list[torch.Tensor]) -> Iterator[None]:
    """Let autograd reach frozen tensors (LoRA base weights) for the duration of the block."""
    off = [t for t in tensors if not t.requires_grad]
    for t in off:
        t.requires_grad_(True)
    try:
        yield
    finally:
        for t in off:
            t.requires_grad_(False)


@register_method
class MMUnlearner(UnlearningMethod):
    name = "mmunlearner"
    description = "GA+GD with the ascent gradient masked to entries whose forget Fisher dominates"
    paper = "Huo et al. 2025, MMUnlearner, Findings of ACL 2025, arXiv 2502.11051"
    reference = f"{_REPO}: data_process/SFRon.py (Mask_Our), data_process/MLLMU_gen_mask.py, " \
                "baselines/MLLMU_manifold.py"
    updates = "vision tower + projector + language model (vision=true turns the tower on in a full-weight scope)"
    deviations = (
        "one optimiser step sums the masked forget gradient and the retain gradient; the reference takes a "
        "forget step, then len(retain)/len(forget) retain steps (the engine pairs one retain batch per forget "
        "batch for every method)",
        "the retain Fisher uses as many paired retain batches as forget batches, from the retain split; the "
        "reference passes the whole retain set (plus text-only knowledge QA for the language mask, which "
        "FIUBench does not have)",
        "under LoRA the mask is on the base weight and the masked gradient is pulled back to A and B (LoRA "
        "dropout is not applied to that pull-back); the reference computes the mask on the full model and "
        "its LLaVA/LoRA run then matches no parameter name (PEFT renames them), so it trains unmasked there",
        "under LoRA the vision tower trains only where unlearn.scope puts LoRA on it (vision=true cannot add "
        "adapters after loading)",
        "gradient clipping (engine: max_grad_norm) acts on the summed gradient; the reference clips the "
        "forget gradient before masking it",
    )
    Options = MMUnlearnerOptions
    default_loss_threshold = -20.0

    def __init__(self, options: MethodOptions | None = None) -> None:
        super().__init__(options)
        self.masks: dict[str, torch.Tensor] = {}
        self.targets: list[Target] = []
        self.unmasked: list[tuple[str, nn.Parameter]] = []
        self.kept = 0.0

    def configure_trainable(self, vlm: Any) -> None:
        o: MMUnlearnerOptions = self.options  # type: ignore[assignment]
        if not o.vision or getattr(vlm, "is_lora", False):
            return
        for n, p in vlm.model.named_parameters():
            if vlm.family.part_of(n) == "vision" and p.is_floating_point():
                p.requires_grad_(True)

    def setup(self, vlm: Any, seed: int) -> None:
        o: MMUnlearnerOptions = self.options  # type: ignore[assignment]
        if not o.threshold > 0:
            raise ConfigError(f"method mmunlearner option threshold={o.threshold}: must be > 0")
        if o.fisher_batches < 1 and o.fisher_batches != ONE_EPOCH:
            raise ConfigError(f"method mmunlearner option fisher_batches={o.fisher_batches}: must be >= 1, "
                              f"or {ONE_EPOCH} for one pass over the forget set")

    def prepare_batches(self) -> int:
        return int(self.options.fisher_batches)  # type: ignore[attr-defined]

    def prepare(self, ctx: MethodContext, batches: list[tuple[UnlearnBatch, UnlearnBatch]]) -> None:
        o: MMUnlearnerOptions = self.options  # type: ignore[assignment]
        self.targets, self.unmasked = masked_targets(ctx.vlm.model)
        self.masks = saliency_masks(*fisher(ctx, self.targets, batches), o.threshold, o.eps)
        total = sum(m.numel() for m in self.masks.values())
        self.kept = float(sum(int(m.sum()) for m in self.masks.values()) / max(1, total))

    def kept_fraction(self) -> dict[str, float]:
        """Fraction of entries the mask lets the ascent move, per masked tensor (logs, tests)."""
        return {n: m.float().mean().item() for n, m in self.masks.items()}

    def compute_loss(
        self, ctx: MethodContext, forget: UnlearnBatch, retain: UnlearnBatch
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o: MMUnlearnerOptions = self.options  # type: ignore[assignment]
        if not self.targets and not self.unmasked:
            raise RuntimeError("MMUnlearner.prepare() was not called")
        wrt = [t.wrt for t in self.targets] + [p for _, p in self.unmasked]
        with _with_grad([t.wrt for t in self.targets]):
            f_nll = nll(ctx.logits(forget.inputs), forget.inputs["labels"])
            grads = torch.autograd.grad(-o.forget_weight * f_nll, wrt, allow_unused=True)
        k = len(self.targets)
        surrogate = masked_surrogate(self.targets, list(grads[:k]), self.masks,
                                     [(p, g) for (_, p), g in zip(self.unmasked, grads[k:], strict=True)])
        loss = (-o.forget_weight * f_nll).detach() + surrogate - surrogate.detach()
        logs = {"forget_nll": f_nll.item(), "mask_kept": self.kept}
        if o.retain_weight:
            r_nll = nll(ctx.logits(retain.inputs), retain.inputs["labels"])
            loss = loss + o.retain_weight * r_nll
            logs["retain_nll"] = r_nll.item()
        return loss, logs


def fisher(ctx: MethodContext, targets: list[Target], batches: list[tuple[UnlearnBatch, UnlearnBatch]]
           ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Diagonal empirical Fisher (mean over batches of the squared batch gradient of the
    token-mean CE) of every target, on the forget and on the retain batches, on the
    targets' own device (float32). Summed over processes, so every rank holds one mask."""
    tensors = [t.wrt for t in targets]
    acc = {side: [torch.zeros_like(t, dtype=torch.float32) for t in tensors] for side in ("f", "r")}
    with _with_grad(tensors):
        for f, r in batches:
            for side, batch in (("f", f), ("r", r)):
                loss = nll(ctx.logits(batch.inputs), batch.inputs["labels"])
                for a, g in zip(acc[side], torch.autograd.grad(loss, tensors, allow_unused=True), strict=True):
                    if g is not None:
                        a += g.detach().float() ** 2
    n = len(batches)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        for a in (*acc["f"], *acc["r"]):
            torch.distributed.all_reduce(a)
        n *= torch.distributed.get_world_size()
    names = [t.name for t in targets]
    return ({nm: a / n for nm, a in zip(names, acc["f"], strict=True)},
            {nm: a / n for nm, a in zip(names, acc["r"], strict=True)})
