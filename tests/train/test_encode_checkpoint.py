from pathlib import Path

import torch

from fiubench.train import checkpoint as ck
from fiubench.train.encode import EncodedPool, collate


def fake_encode(examples):
    (img, q, a), = examples
    n = len(q) + len(a)
    ids = torch.arange(1, n + 1).unsqueeze(0)
    labels = ids.clone()
    labels[:, : len(q)] = -100
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels,
            "pixel_values": torch.full((1, 3, 2, 2), float(img))}


def test_collate_right_pads_with_the_right_values_and_shares_face_tensors():
    pool = EncodedPool([(Path("a"), "qq", "aaa"), (Path("a"), "q", "a"), (Path("b"), "q", "aa")],
                       fake_encode, load_image=lambda p: 1 if p.name == "a" else 2)
    b = collate([pool.get(0), pool.get(1)], pad_token_id=7)
    assert b["input_ids"].tolist() == [[1, 2, 3, 4, 5], [1, 2, 7, 7, 7]]
    assert b["attention_mask"].tolist() == [[1] * 5, [1, 1, 0, 0, 0]]
    assert b["labels"].tolist() == [[-100, -100, 3, 4, 5], [-100, 2, -100, -100, -100]]
    assert b["pixel_values"].shape == (2, 3, 2, 2)
    assert pool.get(0)["pixel_values"] is pool.get(1)["pixel_values"]  # one copy per face
    assert pool.get(2)["pixel_values"] is not pool.get(0)["pixel_values"]


def test_optimizer_state_round_trips_through_safetensors_and_json(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (s + 1))
    for _ in range(3):
        model(torch.randn(4, 3)).sum().backward()
        opt.step()
        sched.step()
        opt.zero_grad()
    saved_rng = ck.capture_rng()
    ck.save_state(tmp_path, model, opt, sched, [saved_rng])
    model2 = torch.nn.Linear(3, 2)
    opt2 = torch.optim.AdamW(model2.parameters(), lr=0.1)
    sched2 = torch.optim.lr_scheduler.LambdaLR(opt2, lambda s: 1.0 / (s + 1))
    rng = ck.load_state(tmp_path, model2, opt2, sched2, rank=0)
    assert torch.equal(model.weight, model2.weight)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    for i in s1["state"]:
        for k in s1["state"][i]:
            assert torch.equal(torch.as_tensor(s1["state"][i][k]), torch.as_tensor(s2["state"][i][k]))
    assert sched2.last_epoch == 3 and sched2.get_last_lr() == sched.get_last_lr()
    assert torch.equal(rng["cpu"], saved_rng["cpu"])
    assert not list(tmp_path.glob("*.pt")) and not list(tmp_path.glob("*.bin"))


def test_list_checkpoints(tmp_path):
    for s in (12, 6):
        d = tmp_path / "checkpoints" / ck.step_dir_name(s)
        d.mkdir(parents=True)
        (d / "checkpoint.json").write_text("{}")
    (tmp_path / "checkpoints" / "step-000018").mkdir()  # incomplete: no checkpoint.json
    assert [s for s, _ in ck.list_checkpoints(tmp_path)] == [6, 12]
