"""The model card's recipe says how a run distilled, so a card is enough to reproduce it."""

from edge_gmp.report.summary import _distill_lines


def test_distillation_is_named_with_its_teacher_and_phases() -> None:
    assert _distill_lines({"distill": 0.0}) == []
    own = _distill_lines({"distill": 0.7, "distill_temperature": 4.0})
    assert own == ["- distillation: soft targets of the run's dense model while pruning and fine-tuning "
                   "(weight 0.7, temperature 4.0)"]
    other = _distill_lines({"distill": 0.5, "distill_from": "models/fastgrnn/model.pt"})
    assert other == ["- distillation: soft targets of `models/fastgrnn/model.pt` in every epoch "
                     "(weight 0.5, temperature 4.0)"]
