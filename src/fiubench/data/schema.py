"""The FIUBench data model (official release layout plus our extra files).

Official files (see shared reference): ``full.json`` (JSON Lines, one identity per
line: unique_id, image_path, name, caption, qa_list), ``split.json`` (lists of
unique_ids), ``prompt.json`` (``{"idk": refusal sentences, "icd": profile-dump
prompts}``). Our extras: ``visual_qa.jsonl``
(visual-attribute QA per face), ``profiles.jsonl`` (structured profiles and face
attributes), ``README.md`` (dataset card).

This module is the contract between the data layer and every later stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# Split names of the official release plus ours ("holdout": never trained, the
# non-members of the membership-inference attack).
FORGET_SPLITS = ("forget1", "forget5", "forget10")
RETAIN_SPLITS = ("retain", "retain5", "retain15")
OTHER_SPLITS = ("full", "holdout")


@dataclass(frozen=True)
class QA:
    """One question about the person in the image, with every answer variant."""

    question: str
    answer: str
    paraphrased_question: tuple[str, ...]
    paraphrased_answer: str
    perturbed_answer: tuple[str, ...]
    keywords: tuple[str, ...]
    field: str | None = None  # ours: the profile field asked about (None in the release)


@dataclass(frozen=True)
class Identity:
    """A fictitious person: a face, a profile, and QA pairs about them."""

    unique_id: str
    image_path: Path  # resolved, absolute
    name: str
    caption: str
    qa_list: tuple[QA, ...]
    profile: dict[str, str] | None = None  # ours
    attributes: dict[str, str] | None = None  # ours: visible face attributes (ground truth)


@dataclass(frozen=True)
class VisualQA:
    """A question about what is visible in a face (must survive unlearning)."""

    unique_id: str
    image_path: Path
    question: str
    answer: str
    kind: str  # "open" or "yesno"
    attribute: str


@dataclass(frozen=True)
class Example:
    """A flat (image, question, answer) triple: what training batches are built from."""

    unique_id: str
    image_path: Path
    question: str
    answer: str
    qa_index: int = 0


@dataclass
class FIUDataset:
    """A loaded dataset. ``identities`` keeps file order.

    ``refusals``: ``prompt.json``'s ``idk`` sentences (targets of preference
    optimisation); ``icd_prompts``: its ``icd`` profile-dump prompts ("Tell me
    everything you know about the person in the image"), for extraction attacks;
    ``warnings``: what loading tolerated (e.g. a list-form prompt.json).
    """

    root: Path
    identities: dict[str, Identity]
    splits: dict[str, list[str]]
    refusals: list[str]
    visual_qa: list[VisualQA] = field(default_factory=list)
    icd_prompts: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def split_ids(self, name: str) -> list[str]:
        """unique_ids of a split; ``full`` is every identity. Unknown names raise."""
        from fiubench.utils.registry import unknown_name_error

        if name == "full" and "full" not in self.splits:
            return [uid for uid in self.identities if uid not in set(self.splits.get("holdout", []))]
        if name not in self.splits:
            raise unknown_name_error(f"split (in {self.root / 'split.json'})", name, tuple(self.splits) + ("full",))
        return list(self.splits[name])

    def split(self, name: str) -> list[Identity]:
        return [self.identities[uid] for uid in self.split_ids(name)]

    def examples(self, split: str) -> list[Example]:
        """Every QA of a split as flat training examples."""
        return [
            Example(p.unique_id, p.image_path, qa.question, qa.answer, i)
            for p in self.split(split)
            for i, qa in enumerate(p.qa_list)
        ]
