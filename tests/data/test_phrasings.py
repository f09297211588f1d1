"""Training-only phrasings (learn.train_phrasings): a pool disjoint from every graded question."""

from __future__ import annotations

import dataclasses

import pytest

from fiubench.data import load_dataset
from fiubench.data.phrasings import (
    MAX_PHRASINGS,
    TRAIN_QUESTIONS,
    evaluation_questions,
    normalise,
    overlaps,
    phrasing_examples,
)
from fiubench.data.profiles import QA_FIELDS
from fiubench.data.qa import TEMPLATES
from fiubench.errors import DataError

from .conftest import FIXTURE_OFFICIAL

EVAL_QUESTIONS = [q for questions, _ in TEMPLATES.values() for q in questions]
TRAIN = [q for qs in TRAIN_QUESTIONS.values() for q in qs]


def test_training_pool_shares_no_question_with_the_evaluation_pool():
    assert set(TRAIN_QUESTIONS) == set(QA_FIELDS)
    assert overlaps(TRAIN, EVAL_QUESTIONS) == []
    assert not {normalise(q) for q in TRAIN} & {normalise(q) for q in EVAL_QUESTIONS}
    assert len({normalise(q) for q in TRAIN}) == len(TRAIN)  # no phrasing twice
    assert all("{" not in q and q.endswith(("?", ".")) for q in TRAIN)  # no slot: never the person's name
    assert MAX_PHRASINGS >= 4


def test_the_overlap_check_sees_a_reworded_graded_question():
    """The control: case, punctuation and word order do not hide a graded question."""
    graded = TEMPLATES["address"][0][0]  # "What is the address of the person in the image?"
    moved = "the address of the PERSON in the image,  what is"
    assert overlaps([moved, "Where is this person's home?"], EVAL_QUESTIONS) == [(moved, graded)]


def test_phrasings_per_qa_keep_image_and_answer_and_avoid_graded_questions(small_ds):
    ds = load_dataset(small_ds)
    examples = ds.examples("full")
    extra = phrasing_examples(ds, examples, 3, seed=0)
    assert len(extra) == 3 * len(examples)
    graded = evaluation_questions(ds)
    assert not {e.question for e in extra} & graded
    by_qa = {(e.unique_id, e.qa_index): e for e in examples}
    for x in extra:
        source = by_qa[(x.unique_id, x.qa_index)]
        assert (x.image_path, x.answer) == (source.image_path, source.answer)
        field = ds.identities[x.unique_id].qa_list[x.qa_index].field
        assert x.question in TRAIN_QUESTIONS[field]
    # three distinct phrasings per QA, none the trained question
    for key, source in by_qa.items():
        qs = [x.question for x in extra if (x.unique_id, x.qa_index) == key]
        assert len(set(qs)) == 3 and source.question not in qs


def test_phrasings_are_deterministic_and_the_same_for_a_person_in_any_split(small_ds):
    ds = load_dataset(small_ds)
    full = phrasing_examples(ds, ds.examples("full"), 2, seed=5)
    assert full == phrasing_examples(ds, ds.examples("full"), 2, seed=5)
    assert full != phrasing_examples(ds, ds.examples("full"), 2, seed=6)
    retain = phrasing_examples(ds, ds.examples("retain"), 2, seed=5)
    assert set(retain) <= set(full)
    assert phrasing_examples(ds, ds.examples("full"), 0, seed=5) == []


def test_official_release_is_refused_naming_the_option():
    ds = load_dataset(FIXTURE_OFFICIAL)
    with pytest.raises(DataError, match=r"learn.train_phrasings: 2 needs each QA's profile field.*official"):
        phrasing_examples(ds, ds.examples("full"), 2, seed=0)


def test_too_many_phrasings_and_a_dataset_grading_a_training_phrasing_are_refused(small_ds):
    ds = load_dataset(small_ds)
    with pytest.raises(DataError, match=f"at most {MAX_PHRASINGS}"):
        phrasing_examples(ds, ds.examples("full"), MAX_PHRASINGS + 1, seed=0)
    # a dataset whose graded paraphrases were written from the training pool
    uid = next(iter(ds.identities))
    person = ds.identities[uid]
    qa = person.qa_list[0]
    taught = dataclasses.replace(qa, paraphrased_question=TRAIN_QUESTIONS[qa.field])
    ds.identities[uid] = dataclasses.replace(person, qa_list=(taught, *person.qa_list[1:]))
    with pytest.raises(DataError, match="is a graded question"):
        phrasing_examples(ds, ds.examples("full"), 1, seed=0)
