"""The multiscale style-based generator and its progressive discriminator (nn/style.py):
growing, fade-in and the scales codes enter."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genad.nn.style import ProgressiveDiscriminator, StyleGenerator, growth_schedule


def test_growth_schedule_phases() -> None:
    # 3 blocks (4, 8, 16), 1000 steps, half at the end: 4 early phases of 125 steps
    assert growth_schedule(0, 1000, 3) == (0, 1.0)
    assert growth_schedule(124, 1000, 3) == (0, 1.0)
    assert growth_schedule(125, 1000, 3) == (1, 0.0)
    stage, alpha = growth_schedule(187, 1000, 3)
    assert stage == 1 and alpha == pytest.approx(62 / 125)
    assert growth_schedule(250, 1000, 3) == (1, 1.0)
    assert growth_schedule(375, 1000, 3) == (2, 0.0)
    assert growth_schedule(500, 1000, 3) == (2, 1.0)
    assert growth_schedule(999, 1000, 3) == (2, 1.0)
    stages = [growth_schedule(s, 1000, 3)[0] for s in range(1000)]
    assert stages == sorted(stages)  # never shrinks
    assert growth_schedule(5, 10, 1) == (0, 1.0)


def _set(net: torch.nn.Module, stage: int, alpha: float) -> None:
    net.stage.fill_(stage)
    net.alpha.fill_(alpha)


def test_generator_resolution_and_fade_in() -> None:
    torch.manual_seed(0)
    g = StyleGenerator(16, 1, z_dim=4, code_dim=3, width=8, w_dim=16, mapping_layers=2)
    z, c = torch.randn(5, 4), torch.randn(5, 3)
    for stage, size in enumerate((4, 8, 16)):
        _set(g, stage, 1.0)
        assert g(z, c, noise=False).shape == (5, 1, size, size)
    # alpha = 0 at stage 2 is the stage-1 image, upsampled
    _set(g, 1, 1.0)
    low = g(z, c, noise=False)
    _set(g, 2, 0.0)
    torch.testing.assert_close(g(z, c, noise=False), F.interpolate(low, scale_factor=2))
    _set(g, 2, 0.5)
    assert not torch.allclose(g(z, c, noise=False), F.interpolate(low, scale_factor=2))
    # noise inputs are per-image randomness; without them the output is deterministic
    _set(g, 2, 1.0)
    torch.testing.assert_close(g(z, c, noise=False), g(z, c, noise=False))


def test_discriminator_fade_in_mirrors_the_generator() -> None:
    torch.manual_seed(0)
    d = ProgressiveDiscriminator(16, 1, width=8, feature_dim=32)
    x = torch.randn(4, 1, 16, 16)
    _set(d, 1, 1.0)
    low_logit, low_feat = d(F.avg_pool2d(x, 2))
    _set(d, 2, 0.0)
    logit, feat = d(x)
    torch.testing.assert_close(logit, low_logit)
    torch.testing.assert_close(feat, low_feat)
    # one image's output does not depend on the rest of the batch
    _set(d, 2, 1.0)
    torch.testing.assert_close(d(x)[0][:1], d(x[:1])[0])


def test_codes_enter_only_the_chosen_scales() -> None:
    """Codes that modulate only the 16x16 block leave the 8x8 image unchanged."""
    torch.manual_seed(0)
    g = StyleGenerator(16, 1, z_dim=4, code_dim=2, width=8, w_dim=16, code_scales=[2])
    z = torch.randn(3, 4)
    c1, c2 = torch.zeros(3, 2), torch.ones(3, 2)
    _set(g, 1, 1.0)
    torch.testing.assert_close(g(z, c1, noise=False), g(z, c2, noise=False))
    _set(g, 2, 1.0)
    assert not torch.allclose(g(z, c1, noise=False), g(z, c2, noise=False))
    with pytest.raises(ValueError):
        StyleGenerator(16, 1, 4, 2, code_scales=[3])


def test_continuous_codes_can_enter_other_scales_than_the_categorical() -> None:
    """cont_scales=[2]: the last two code entries (continuous) reach only the 16x16 block, the
    first three (a one-hot) every block; each block's code map reads only its entries."""
    torch.manual_seed(0)
    g = StyleGenerator(16, 1, z_dim=4, code_dim=5, width=8, w_dim=16, cont_scales=[2], n_cont=2)
    assert [b.ada1.code.weight.shape[1] for b in g.blocks] == [3, 3, 5]
    z, c = torch.randn(3, 4), torch.zeros(3, 5)
    cont, cat = c.clone(), c.clone()
    cont[:, 3:], cat[:, 0] = 1.0, 1.0
    _set(g, 1, 1.0)  # the 8x8 image: moved by the one-hot, not by the continuous entries
    torch.testing.assert_close(g(z, c, noise=False), g(z, cont, noise=False))
    assert not torch.allclose(g(z, c, noise=False), g(z, cat, noise=False))
    _set(g, 2, 1.0)
    assert not torch.allclose(g(z, c, noise=False), g(z, cont, noise=False))
    assert not any("code_entries" in k for k in g.state_dict())  # rebuilt, not saved
    with pytest.raises(ValueError, match="cont_scales"):
        StyleGenerator(16, 1, 4, 5, cont_scales=[3], n_cont=2)


def test_each_continuous_code_can_enter_its_own_scales() -> None:
    """cont_scales=[[0], [2]]: the first continuous code moves the 8x8 image, the second does
    not (it enters only the 16x16 block), and each block's code map reads only its entries."""
    torch.manual_seed(0)
    g = StyleGenerator(16, 1, z_dim=4, code_dim=2, width=8, w_dim=16,
                       cont_scales=[[0], [2]], n_cont=2)
    assert [b.code_entries.tolist() for b in g.blocks] == [[0], [], [1]]
    z, c = torch.randn(3, 4), torch.zeros(3, 2)
    first, second = c.clone(), c.clone()
    first[:, 0], second[:, 1] = 1.0, 1.0
    _set(g, 1, 1.0)
    assert not torch.allclose(g(z, c, noise=False), g(z, first, noise=False))
    torch.testing.assert_close(g(z, c, noise=False), g(z, second, noise=False))
    _set(g, 2, 1.0)
    assert not torch.allclose(g(z, c, noise=False), g(z, second, noise=False))
    for bad in ([[0]], [[0], []], [[0], [3]]):  # one list per code, none empty, blocks 0..2
        with pytest.raises(ValueError, match="cont_scales|block"):
            StyleGenerator(16, 1, 4, 2, cont_scales=bad, n_cont=2)


def test_growth_by_images_phases() -> None:
    from genad.nn.style import growth_by_images

    # 3 blocks (4, 8, 16 px): 4x4 stable, fade 8, stable 8, fade 16, stable 16, then 16 on
    phases = [growth_by_images(i * 100 + 50, 100, 3) for i in range(6)]
    assert phases == [(0, 1.0), (1, 0.5), (1, 1.0), (2, 0.5), (2, 1.0), (2, 1.0)]
    assert growth_by_images(10**9, 100, 3) == (2, 1.0)
    assert growth_by_images(0, 100, 1) == (0, 1.0)


def test_minibatch_std_only_in_training() -> None:
    from genad.nn.style import MinibatchStd

    layer = MinibatchStd(group=4, momentum=0.5)
    x = torch.randn(8, 3, 4, 4)
    out = layer.train()(x)
    assert out.shape == (8, 4, 4, 4)
    # image i pairs with the images i +- 2, 4, 6 (groups over the leading index): one value
    std = x.reshape(4, 2, 3, 4, 4).std(0, unbiased=False).mean(dim=(1, 2, 3))
    assert torch.allclose(out[:, 3, 0, 0], std.repeat(4), atol=1e-5)
    assert layer.mbstd_mean > 0
    layer.eval()
    one, all_ = layer(x[:1]), layer(x)  # eval: a constant, whatever the batch
    assert torch.equal(one[0], all_[0]) and torch.all(all_[:, 3] == layer.mbstd_mean)
    assert MinibatchStd(4).train()(torch.randn(6, 2, 4, 4)).shape == (6, 3, 4, 4)  # group 3


def test_discriminator_options_batchnorm_and_plain_layers() -> None:
    """norm="batch": a BatchNorm after every layer but fromRGB; equalized=False: plain layers
    drawn from N(0, 0.02) (no run-time weight scaling); in eval mode the output of one image
    does not depend on its batch."""
    torch.manual_seed(0)
    d = ProgressiveDiscriminator(16, 1, width=8, max_width=16, feature_dim=32, mbstd_group=4,
                                 norm="batch", equalized=False)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 3 + 2 * 2 + 1  # fromRGB per resolution, two per block, the head's
    assert all(0.01 < float(m.weight.std()) < 0.03 for m in convs if m.weight.numel() > 100)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules()) == 5
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in d.modules()) == 1
    x = torch.randn(8, 1, 16, 16)
    assert d(x)[1].shape == (8, 32)
    d.eval()
    torch.testing.assert_close(d(x)[0][:2], d(x[:2])[0])
    with pytest.raises(ValueError, match="norm"):
        ProgressiveDiscriminator(16, 1, norm="layer")


def test_discriminator_spectral_norm_on_plain_layers() -> None:
    """norm="spectral": every layer's weight divided by its largest singular value
    (InfoGAN-CR's dSprites discriminator); it needs plain layers."""
    torch.manual_seed(0)
    d = ProgressiveDiscriminator(16, 1, width=8, max_width=16, feature_dim=32,
                                 norm="spectral", equalized=False)
    layers = [m for m in d.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers) == 3 + 2 * 2 + 1 + 2  # the convolutions, the feature layer, the logit
    assert all(torch.nn.utils.parametrize.is_parametrized(m, "weight") for m in layers)
    for _ in range(30):  # power iterations run in training passes
        d(torch.randn(8, 1, 16, 16))
    w = d.blocks[1][0].weight.detach().flatten(1)
    assert abs(float(torch.linalg.matrix_norm(w, ord=2)) - 1.0) < 0.05
    with pytest.raises(ValueError, match="plain"):
        ProgressiveDiscriminator(16, 1, norm="spectral")
