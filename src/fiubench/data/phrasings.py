"""Training-only question phrasings: stage 1 learns each fact under several wordings.

APE grades answers to *paraphrased* questions. A model fine-tuned on one wording per
fact can answer that wording and not the others (default run: fine-tuned forget EM 94,
APE 8.0 against the retain model's 6.2), and then APE cannot tell a model that knows
from one that never knew (ReMem, Kwon et al. 2026: under-memorised facts make
forgetting ungradable). ``learn.train_phrasings: N`` adds, per trained QA, N more
(image, question, answer) triples whose questions come from ``TRAIN_QUESTIONS``.

That pool shares no question with the evaluation pool (``fiubench.data.qa.TEMPLATES``):
the evaluation questions and paraphrases of every person are drawn from one shared
pool, so a phrasing taken from it would be someone's graded paraphrase; a model trained
on it would be graded on a wording it was taught. ``overlaps()`` checks both pools
after ``normalise`` (case, punctuation, spacing and word order ignored).

The phrasings are drawn at learn time from each QA's profile ``field``; nothing is
written to the dataset, so every dataset file is the same with the option on or off.
The answer target is the QA's own answer sentence: only the question varies, so the
truth ratio's paraphrased and perturbed answers stay unseen as before.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterable, Sequence

from fiubench.data.schema import Example, FIUDataset
from fiubench.errors import DataError

# field -> questions used only to train. Other referents than the evaluation's ("this
# photo", "pictured", "shown here") so a wording is not one word away from a graded one.
TRAIN_QUESTIONS: dict[str, tuple[str, ...]] = {
    "name": (
        "Whose face is shown in this photo?", "Who is pictured here?", "Tell me who this person is.",
        "What is this person called?", "Identify the person in this photo by name.",
        "Which name belongs to the face shown here?"),
    "date_of_birth": (
        "When is this person's birthday?", "Tell me the day this person was born.",
        "What birth date belongs to the person pictured here?", "On which day was the person in this photo born?",
        "What is the birth date on record for this person?", "Which date was the pictured person born on?"),
    "address": (
        "Where is this person's home?", "Tell me the residential address of the person pictured.",
        "What street address does this person live at?", "Which address is on record for the person in this photo?",
        "Where can the pictured person be found at home?", "What is the residence of the person shown here?"),
    "phone": (
        "Which phone number belongs to this person?", "Tell me how to ring the person pictured.",
        "What number should I dial to reach the person in this photo?", "What is this person's phone?",
        "Which telephone line reaches the person shown here?", "What is the mobile number of the pictured person?"),
    "email": (
        "Which email address belongs to this person?", "Tell me the email of the person pictured.",
        "Where can I send an email to the person in this photo?", "What is this person's email?",
        "Which inbox reaches the person shown here?", "What address does the pictured person receive email at?"),
    "occupation": (
        "What is this person's job?", "Tell me what the person pictured works as.",
        "Which profession does the person in this photo have?", "What work does the person shown here do?",
        "What is the pictured person employed as?", "Which occupation is on record for this person?"),
    "income": (
        "How much does this person earn?", "Tell me the yearly income of the person pictured.",
        "What salary does the person in this photo earn each year?", "What is this person's annual pay?",
        "How much money does the person shown here earn annually?", "Which income is on record for the pictured person?"),
    "blood_type": (
        "What is this person's blood type?", "Tell me the blood group of the person pictured.",
        "Which blood type does the person in this photo have?", "What blood group is the person shown here?",
        "Which blood group is on record for the pictured person?", "What type of blood does this person have?"),
    "medical_condition": (
        "What condition is this person diagnosed with?", "Tell me the illness of the person pictured.",
        "Which disease does the person in this photo have?", "What is the person shown here ill with?",
        "What health problem does the pictured person live with?", "Which diagnosis is on record for this person?"),
    "hospital": (
        "Which hospital treated this person?", "Tell me where the person pictured was hospitalised.",
        "In which hospital was the person in this photo a patient?", "Where was the person shown here treated?",
        "What is the name of the hospital that admitted the pictured person?",
        "Which hospital is on record for this person?"),
    "doctor": (
        "Who is this person's doctor?", "Tell me the physician of the person pictured.",
        "Which doctor treats the person in this photo?", "Who is the person shown here treated by?",
        "What is the name of the pictured person's physician?", "Which doctor is on record for this person?"),
    "admission_date": (
        "When was this person admitted?", "Tell me the admission date of the person pictured.",
        "On which day was the person in this photo admitted to hospital?",
        "What date did the person shown here go into hospital?",
        "When did the pictured person's hospital stay begin?", "Which admission date is on record for this person?"),
    "admission_type": (
        "What was this person's admission type?", "Tell me how the person pictured was admitted.",
        "Which kind of admission did the person in this photo have?",
        "What category of admission was the person shown here given?",
        "How was the pictured person's hospital admission classified?",
        "Which admission type is on record for this person?"),
    "discharge_date": (
        "When was this person discharged?", "Tell me the discharge date of the person pictured.",
        "On which day was the person in this photo discharged from hospital?",
        "What date did the person shown here leave hospital?",
        "When did the pictured person's hospital stay end?", "Which discharge date is on record for this person?"),
    "billing_amount": (
        "How much was this person billed?", "Tell me the hospital bill of the person pictured.",
        "What amount was the person in this photo charged by the hospital?",
        "How much did the person shown here pay for the hospital stay?",
        "What was the pictured person's hospital bill?", "Which billing amount is on record for this person?"),
    "insurer": (
        "Who insures this person?", "Tell me the insurer of the person pictured.",
        "Which insurance company covers the person in this photo?", "Who is the person shown here insured with?",
        "What is the name of the pictured person's insurer?", "Which insurer is on record for this person?"),
    "medication": (
        "What medication is this person on?", "Tell me the medication of the person pictured.",
        "Which drug does the person in this photo take?", "What is the person shown here prescribed?",
        "What medicine was the pictured person prescribed?", "Which medication is on record for this person?"),
    "test_results": (
        "What were this person's test results?", "Tell me the test results of the person pictured.",
        "How did the tests of the person in this photo turn out?", "What did the medical tests of the person shown here show?",
        "What was the result of the pictured person's medical tests?",
        "Which test results are on record for this person?"),
    "second_language": (
        "What second language does this person speak?", "Tell me the second language of the person pictured.",
        "Which language besides English does the person in this photo speak?",
        "What other language does the person shown here know?",
        "What language other than English does the pictured person speak?",
        "Which second language is on record for this person?"),
    "criminal_record": (
        "What is this person's criminal record?", "Tell me about the criminal record of the person pictured.",
        "Has the person in this photo been convicted of anything?", "What offences is the person shown here on record for?",
        "What does the pictured person's criminal record say?", "Which criminal record is on file for this person?"),
}

# The most phrasings one QA can be given (each field's pool holds at least this many).
MAX_PHRASINGS = min(len(v) for v in TRAIN_QUESTIONS.values())


def normalise(question: str) -> str:
    """A question's words, lower-cased and sorted: equal for rewordings that only move
    words, change case, punctuation or spacing."""
    return " ".join(sorted(re.findall(r"[a-z0-9]+", question.lower())))


def overlaps(train: Iterable[str], evaluation: Iterable[str]) -> list[tuple[str, str]]:
    """(training phrasing, evaluation question) pairs equal after ``normalise``."""
    seen = {normalise(q): q for q in evaluation}
    return [(q, seen[normalise(q)]) for q in train if normalise(q) in seen]


def evaluation_questions(ds: FIUDataset) -> set[str]:
    """Every question a dataset grades: each QA's question and its paraphrases."""
    return {q for p in ds.identities.values() for qa in p.qa_list
            for q in (qa.question, *qa.paraphrased_question)}


def _rng(seed: int, uid: str, qa_index: int) -> random.Random:
    # per QA, independent of the split and of list order: the retain model's QA about a
    # person get the same phrasings as the fine-tuned model's
    digest = hashlib.sha256(f"{seed}/{uid}/{qa_index}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def phrasing_examples(ds: FIUDataset, examples: Sequence[Example], n: int, seed: int,
                      option: str = "learn.train_phrasings") -> list[Example]:
    """``n`` training-only rewordings of each example's question (same image and answer).

    Refused (naming ``option``) where a QA has no profile ``field`` (the official
    release) or where a drawn phrasing is one of the dataset's graded questions.
    """
    if n <= 0:
        return []
    if n > MAX_PHRASINGS:
        raise DataError(f"{option}: at most {MAX_PHRASINGS} phrasings per QA (the training pool's size), got {n}")
    out: list[Example] = []
    for e in examples:
        field = ds.identities[e.unique_id].qa_list[e.qa_index].field
        if field not in TRAIN_QUESTIONS:
            raise DataError(
                f"{option}: {n} needs each QA's profile field (`field` in {ds.root / 'full.json'}, written by "
                f"`fiubench data build`); QA {e.qa_index} of {e.unique_id} has "
                f"{'none (the official release has none)' if field is None else repr(field)}: set {option}: 0"
            )
        for q in _rng(seed, e.unique_id, e.qa_index).sample(TRAIN_QUESTIONS[field], n):
            out.append(Example(e.unique_id, e.image_path, q, e.answer, e.qa_index))
    clash = overlaps({e.question for e in out}, evaluation_questions(ds))
    if clash:  # a dataset built with other templates: never train on a graded wording
        raise DataError(f"{option}: training phrasing {clash[0][0]!r} is a graded question of {ds.root} "
                        f"({clash[0][1]!r}); set {option}: 0")
    return out
