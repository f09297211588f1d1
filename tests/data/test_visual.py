from __future__ import annotations

import random
from dataclasses import replace

from fiubench.data.faces import sample_attributes
from fiubench.data.visual import visible_attributes, visual_questions


def test_open_answers_state_true_value_and_yesno_balanced() -> None:
    rng = random.Random(0)
    for _ in range(100):
        a = sample_attributes(rng)
        items = visual_questions(a, rng)
        opens = [i for i in items if i.kind == "open"]
        yn = [i for i in items if i.kind == "yesno"]
        assert len(opens) == len(yn) == len(visible_attributes(a))
        for it in opens:
            value = getattr(a, it.attribute)
            if value != "none":
                assert value in it.answer
            assert "the person in the image" in it.answer.lower() or it.attribute == "background"
        n_yes = sum(i.answer == "Yes." for i in yn)
        n_no = sum(i.answer == "No." for i in yn)
        assert n_yes + n_no == len(yn) and abs(n_yes - n_no) <= 1


def test_no_questions_name_a_wrong_value() -> None:
    rng = random.Random(1)
    for _ in range(100):
        a = sample_attributes(rng)
        for it in visual_questions(a, rng):
            if it.kind == "yesno" and it.attribute in ("background", "clothing", "eye_color", "skin_tone"):
                true = getattr(a, it.attribute)
                assert (true in it.question) == (it.answer == "Yes.")


def test_hidden_attributes_are_not_asked() -> None:
    a = replace(sample_attributes(random.Random(2)), glasses="sunglasses", headwear="hat")
    asked = visible_attributes(a)
    assert "eye_color" not in asked and "hair_style" not in asked
