import pytest
import torch

from edge_gmp.errors import ConfigError
from edge_gmp.models import FastGRNN, available_models, create_model, model_config


@pytest.mark.parametrize("ranks", [(None, None), (5, 16)])
def test_step_form_equals_sequence_form_exactly(ranks):
    torch.manual_seed(0)
    model = create_model("fastgrnn", hidden=24, rank_w=ranks[0], rank_u=ranks[1]).eval()
    x = torch.randn(7, 128, 9)
    with torch.no_grad():
        logits = model(x)
        h = model.initial_state(7)
        for t in range(x.shape[1]):
            h = model.step(x[:, t], h)
        assert torch.equal(model.classifier(h), logits)


def test_cell_matches_paper_equations():
    torch.manual_seed(1)
    m = create_model("fastgrnn", hidden=4, input_dim=3)
    x, h = torch.randn(2, 3), torch.randn(2, 4)
    pre = x @ m.W.t() + h @ m.U.t()
    z = torch.sigmoid(pre + m.bias_gate)
    h_tilde = torch.tanh(pre + m.bias_update)
    expected = (torch.sigmoid(m.zeta) * (1 - z) + torch.sigmoid(m.nu)) * h_tilde + z * h
    assert torch.allclose(m.step(x, h), expected)


def test_defaults_follow_edgeml():
    m = create_model("fastgrnn")
    assert m.zeta.item() == 1.0 and m.nu.item() == -4.0
    assert torch.equal(m.bias_gate, torch.ones(32)) and torch.equal(m.bias_update, torch.ones(32))
    assert 0.05 < m.W.std().item() < 0.2  # 0.1 * N(0, 1)


def test_low_rank_shapes():
    m = create_model("fastgrnn", hidden=80, rank_w=5, rank_u=40)
    assert m.W1.shape == (80, 5) and m.W2.shape == (5, 9)
    assert m.U1.shape == (80, 40) and m.U2.shape == (40, 80)
    assert m.input_matrix().shape == (80, 9) and m.recurrent_matrix().shape == (80, 80)
    assert m(torch.randn(2, 16, 9)).shape == (2, 2)


def test_registry():
    assert "fastgrnn" in available_models()
    assert isinstance(create_model("fastgrnn", hidden=8), FastGRNN)
    with pytest.raises(ConfigError, match="unknown model"):
        model_config("resnet9000")
    with pytest.raises(ConfigError, match="unknown option"):
        model_config("fastgrnn", {"hiden": 8})
    with pytest.raises(ConfigError, match="rank_w"):
        model_config("fastgrnn", {"rank_w": 50})


@pytest.mark.parametrize("ranks", [(None, None), (5, 16)])
def test_dropout_acts_in_training_only_and_leaves_the_step_graph_alone(ranks):
    torch.manual_seed(2)
    model = create_model("fastgrnn", hidden=24, dropout=0.5, rank_w=ranks[0], rank_u=ranks[1])
    plain = create_model("fastgrnn", hidden=24, rank_w=ranks[0], rank_u=ranks[1])
    plain.load_state_dict(model.state_dict())  # dropout adds no parameters or buffers
    x = torch.randn(5, 16, 9)
    model.train()
    assert not torch.equal(model(x), plain.eval()(x))
    assert torch.equal(model.classifier(model.encode(x)), plain(x))  # only the classifier's input is dropped
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(x), plain(x))
        h = model.initial_state(5)
        for t in range(x.shape[1]):
            h, logits = model.step_graph()(x[:, t], h)
        assert torch.allclose(logits, plain(x), atol=1e-6)


@pytest.mark.parametrize("bad", [-0.1, 1.0, "0.2"])
def test_bad_dropout(bad):
    with pytest.raises(ConfigError, match="dropout"):
        model_config("fastgrnn", {"dropout": bad})
