"""The networks: shapes, parameter counts, any-length pooling, attention, configs."""
import pytest
import torch

from muzo_lib.models.networks import (
    AttentionPooling,
    CNNConfig,
    HybridCNNRNN,
    HybridConfig,
    SpectrogramCNN,
    build_model,
    config_from_dict,
    config_to_dict,
    count_parameters,
)


@pytest.mark.parametrize("frames", [16, 130, 431, 1292])
def test_pooled_head_takes_any_length(frames):
    model = SpectrogramCNN(CNNConfig(n_classes=6)).eval()
    with torch.no_grad():
        assert model(torch.randn(2, 128, frames)).shape == (2, 6)


def test_pooled_head_is_a_few_hundred_thousand_parameters():
    assert 50_000 < count_parameters(SpectrogramCNN(CNNConfig(n_classes=10))) < 1_000_000


def test_seed_head_is_the_seed_network_84m_parameters_on_30s():
    model = SpectrogramCNN(CNNConfig(n_classes=10, head="flatten", input_frames=1292))
    assert [b[0].out_channels for b in model.features] == [32, 64, 128, 256]
    linear = [m for m in model.head if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(256 * 8 * 80, 512), (512, 128), (128, 10)]
    assert 84_000_000 < count_parameters(model) < 85_000_000


def test_seed_head_rejects_another_length_with_a_clear_error():
    model = SpectrogramCNN(CNNConfig(n_classes=4, head="flatten", input_frames=130)).eval()
    assert model(torch.randn(1, 128, 130)).shape == (1, 4)
    with pytest.raises(ValueError, match="130 frames"):
        model(torch.randn(1, 128, 260))


def test_input_may_carry_a_channel_axis_but_not_other_shapes():
    model = SpectrogramCNN(CNNConfig(n_classes=3, n_mels=32)).eval()
    assert model(torch.randn(2, 1, 32, 64)).shape == (2, 3)
    with pytest.raises(ValueError, match="n_mels, frames"):
        model(torch.randn(32, 64))


def test_hybrid_returns_attention_weights_over_time_steps():
    model = HybridCNNRNN(HybridConfig(n_classes=5, n_mels=64)).eval()
    logits, weights = model(torch.randn(3, 64, 130), return_attention=True)
    assert logits.shape == (3, 5)
    assert weights.shape == (3, 130 // model.frames_per_step())
    assert torch.allclose(weights.sum(dim=1), torch.ones(3), atol=1e-5)
    assert model(torch.randn(3, 64, 130)).shape == (3, 5)


def test_attention_pooling_follows_its_weights():
    pool = AttentionPooling(4, hidden=8)
    x = torch.randn(2, 7, 4)
    pooled, weights = pool(x)
    assert torch.allclose(pooled, torch.einsum("bt,btd->bd", weights, x), atol=1e-6)
    with torch.no_grad():  # a scorer that only looks at feature 0: the step with the largest one wins
        pool.score[0].weight.zero_(); pool.score[0].weight[:, 0] = 50.0; pool.score[0].bias.zero_()
        pool.score[2].weight.fill_(5.0)
    x = torch.zeros(1, 5, 4); x[0, 3] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    pooled, weights = pool(x)
    assert int(weights.argmax()) == 3 and torch.allclose(pooled[0], x[0, 3], atol=1e-3)


def test_configs_round_trip_through_plain_dicts():
    for config in (CNNConfig(n_classes=4, head="flatten", input_frames=65), HybridConfig(n_classes=3, rnn_hidden=32)):
        values = config_to_dict(config)
        assert values["architecture"] == config.architecture
        assert config_from_dict(values) == config
        assert type(build_model(values).config) is type(config)


@pytest.mark.parametrize("bad", [dict(head="flat"), dict(n_classes=0), dict(channels=(8, 8)), dict(dropout=1.0),
                                 dict(head="flatten", input_frames=8)])
def test_bad_cnn_configs_fail_with_one_line(bad):
    with pytest.raises(ValueError):
        CNNConfig(**bad)


def test_unknown_architecture_or_fields_are_refused():
    with pytest.raises(ValueError, match="unknown architecture"):
        config_from_dict({"architecture": "transformer"})
    with pytest.raises(ValueError, match="unknown fields"):
        config_from_dict({"architecture": "cnn", "n_classes": 3, "colour": "red"})
