import numpy as np
import onnx
import pytest
import torch
from torch import nn

from edge_gmp.errors import ConfigError
from edge_gmp.export import convert_onnx_to_tflite, export_onnx
from edge_gmp.models import MobileNetV1, MobileNetV1Config, available_models, create_model, model_config
from edge_gmp.prune.params import prunable_parameters

# parameters (weights, BN affine, classifier bias) per width multiplier
PARAMS = {0.25: 215_642, 0.5: 823_722, 0.75: 1_824_250, 1.0: 3_217_226}


def _with_bn_stats(width: float = 0.25, seed: int = 0) -> nn.Module:
    """A model whose BN running statistics moved away from (0, 1), so folding them is not a no-op."""
    torch.manual_seed(seed)
    model = create_model("mobilenet_v1", width=width).train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, 3, 32, 32) * 2 + 0.5)
    return model.eval()


@pytest.mark.parametrize("width", sorted(PARAMS))
def test_output_shape_and_parameter_count(width):
    model = create_model("mobilenet_v1", width=width).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    assert sum(p.numel() for p in model.parameters()) == PARAMS[width]


def test_any_multiple_of_a_32nd_is_a_width():
    model = create_model("mobilenet_v1", width=0.375)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs[::2]] == [12, 24, 48, 48, 96, 96, 192, 192, 192, 192, 192, 192, 384, 384]
    assert model.classifier.in_features == 384


def test_channels_scale_with_width():
    model = create_model("mobilenet_v1", width=0.5)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].out_channels == 16 and convs[0].stride == (1, 1)
    assert [c.out_channels for c in convs[2::2]] == [32, 64, 64, 128, 128, 256, 256, 256, 256, 256, 256, 512, 512]
    assert all(c.groups == c.in_channels == c.out_channels for c in convs[1::2])  # depthwise
    assert [c.stride[0] for c in convs[1::2]] == [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    assert all(c.bias is None for c in convs)
    assert model.classifier.in_features == 512


def test_pointwise_convolutions_dominate():
    params = prunable_parameters(create_model("mobilenet_v1", width=1.0))
    pointwise = sum(p.numel() for p in params.values() if p.ndim == 4 and p.shape[2:] == (1, 1))
    share = pointwise / sum(p.numel() for p in params.values())
    assert share > 0.9  # 0.983 at width 1.0


def test_prunable_set_is_every_conv_and_the_classifier():
    model = create_model("mobilenet_v1")
    weights = {f"{name}.weight" for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    params = prunable_parameters(model)
    assert set(params) == weights
    assert len(params) == 1 + 13 + 13 + 1
    assert "classifier.weight" in params and "features.0.0.weight" in params
    assert not any(name.endswith("bias") for name in params)


def test_unknown_width_is_a_config_error():
    for width in (0.3, 0.0, -0.5, 2.5, float("nan"), "half"):
        with pytest.raises(ConfigError, match=r"width must be a multiple of 1/32"):
            model_config("mobilenet_v1", {"width": width})
    with pytest.raises(ConfigError, match="unknown option"):
        model_config("mobilenet_v1", {"depth": 2})


def test_registry_round_trip():
    assert "mobilenet_v1" in available_models()
    config = model_config("mobilenet_v1", {"width": 0.5, "num_classes": 7})
    assert config == MobileNetV1Config(width=0.5, num_classes=7)
    model = create_model("mobilenet_v1", config)
    assert isinstance(model, MobileNetV1) and model.config == config
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 7)
    assert create_model("mobilenet_v1", config, width=0.25).config.width == 0.25


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = _with_bn_stats()
    path = export_onnx(model, (torch.zeros(1, 3, 32, 32),), tmp_path_factory.mktemp("mobilenet") / "mobilenet.onnx",
                       ["image"], ["logits"])
    return model, path


def test_onnx_export_folds_batchnorm_and_matches(exported):
    import onnxruntime as ort

    model, path = exported
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert "BatchNormalization" not in ops
    assert ops <= {"Conv", "Relu", "GlobalAveragePool", "Flatten", "Gemm"}
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        ref = model(x).numpy()
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x.numpy()})[0]
    assert np.max(np.abs(got - ref)) <= 1e-4


@pytest.mark.slow
def test_int8_runs_in_litert_and_tflite_micro(exported, tmp_path, monkeypatch):
    pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    from edge_gmp.runtimes.base import open_session
    from edge_gmp.runtimes.onnxruntime import run_onnx
    from edge_gmp.verify.arena import measure_arena

    # onnx2tf would download a sample for 3-channel image inputs; make any download fail fast
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    for var in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    _, path = exported
    cal = {"image": np.random.default_rng(0).standard_normal((200, 3, 32, 32)).astype(np.float32)}
    arts = {a.kind: a for a in convert_onnx_to_tflite(path, tmp_path, cal)}
    float32 = open_session("litert", arts["float32"].path)
    nhwc = cal["image"][:20].transpose(0, 2, 3, 1)
    got = np.concatenate([float32.run([nhwc[k:k + 1]])[0] for k in range(len(nhwc))])
    assert np.max(np.abs(got - run_onnx(path, {"image": cal["image"][:20]})["logits"])) <= 1e-4
    int8 = arts["int8"]
    assert int8.input("image").perm_from_onnx == (0, 2, 3, 1)
    assert not int8.micro_issues, int8.micro_issues
    lite, micro = open_session("litert", int8.path), open_session("tflm", int8.path)
    x = cal["image"][:40].transpose(0, 2, 3, 1)  # NCHW -> the model's NHWC
    a = np.concatenate([lite.run([x[k:k + 1]])[0] for k in range(len(x))])
    b = np.concatenate([micro.run([x[k:k + 1]])[0] for k in range(len(x))])
    np.testing.assert_array_equal(np.argmax(a, axis=1), np.argmax(b, axis=1))
    # optimised vs reference kernels round differently; the differences add up over 28 layers
    lsbs = int(np.rint(np.max(np.abs(a - b)) / lite.outputs[0].scale))
    assert lsbs <= 4
    arena = measure_arena(int8.path)
    print(f"\nmobilenet_v1 0.25 int8: {int8.bytes} bytes, TFLM arena {arena} bytes, TFLM vs LiteRT <= {lsbs} LSB, "
          f"ops {int8.ops}")
    assert 0 < arena < 1 << 20
