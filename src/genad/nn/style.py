"""A multiscale, style-based generator that grows progressively, and its discriminator.

Generator (after StyleGAN, Karras, Laine, Aila, CVPR 2019, Sec. 2, on the progressive growing
of Karras, Aila, Laine, Lehtinen, ICLR 2018, Sec. 3):

    z --pixel norm--> mapping MLP --> w
    a learnt 4x4 constant --> block 0 (4x4) --> block 1 (8x8) --> ... --> block n-1 (size)

Each block (but the first) doubles the resolution by nearest-neighbour upsampling and runs two
3x3 convolutions, each followed by per-pixel noise (scaled per channel, learnt), LeakyReLU(0.2)
and adaptive instance normalisation (AdaIN) whose scale and bias come from an affine map of
the style input. The style input of block i is A_i(w), plus B_i(c) when the structured codes
c enter at that scale (`code_scales`): the codes bypass the mapping network, so which scales
they modulate is explicit, and the multiscale effect of a code can be shown by where it enters.
Each block has a 1x1 toRGB; the output is linear (no tanh), as in both papers.

Growing: the networks hold `stage` (index of the highest active block) and `alpha` (fade-in
weight) as buffers, so a checkpoint carries them. While a new block fades in, the output is
(1 - alpha) * upsample(toRGB_{i-1}) + alpha * toRGB_i, and the discriminator mirrors it.

All convolutions and linear layers use the equalised learning rate (weights drawn from N(0, 1)
and scaled by He's constant at run time, ProGAN Sec. 4.1); the mapping network's layers use a
0.01 learning-rate multiplier (StyleGAN, App. C). Departures, for CPU-sized runs: 4 mapping
layers instead of 8 and narrower channels (`width` at the top resolution, doubling down to
`max_width`).

The discriminator's minibatch standard deviation (ProGAN Sec. 3, StyleGAN2's groups of 4)
lets it see a batch's variety, which discourages a collapsed generator; but genad scores
and encodes images one by one, so the statistic is computed in training mode only. In eval
mode the layer feeds a constant instead, the running mean of the statistic over training
(`mbstd_mean`), so that an image's output never depends on the rest of its batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from genad.nn.gan import init_infogan_weights


class EqualLinear(nn.Module):
    """Linear layer with the equalised learning rate (ProGAN Sec. 4.1)."""

    def __init__(self, n_in: int, n_out: int, bias: bool = True, lr_mul: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(n_out)) if bias else None
        self.scale = lr_mul / math.sqrt(n_in)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = None if self.bias is None else self.bias * self.lr_mul
        return F.linear(x, self.weight * self.scale, b)


class EqualConv2d(nn.Module):
    """Square convolution, stride 1, 'same' padding, with the equalised learning rate."""

    def __init__(self, n_in: int, n_out: int, kernel: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in, kernel, kernel))
        self.bias = nn.Parameter(torch.zeros(n_out))
        self.scale = 1 / math.sqrt(n_in * kernel * kernel)
        self.pad = kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)


def pixel_norm(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Normalise each feature vector to unit mean square (ProGAN Sec. 4.2)."""
    return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + eps)


class AdaIN(nn.Module):
    """Instance-normalise, then scale by (1 + gamma) and shift by beta, where (gamma, beta) is
    an affine map of w, plus one of the codes c when `code_dim` > 0."""

    def __init__(self, channels: int, w_dim: int, code_dim: int = 0) -> None:
        super().__init__()
        self.style = EqualLinear(w_dim, 2 * channels)
        self.code = EqualLinear(code_dim, 2 * channels, bias=False) if code_dim else None

    def forward(self, x: torch.Tensor, w: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        s = self.style(w)
        if self.code is not None and c is not None:
            s = s + self.code(c)
        gamma, beta = s[:, :, None, None].chunk(2, dim=1)
        return F.instance_norm(x) * (1 + gamma) + beta


class StyleBlock(nn.Module):
    """One resolution of the synthesis network (see the module doc). `code_entries`: the
    entries of the code vector whose affine map joins this block's styles (none: no code)."""

    def __init__(self, n_in: int, n_out: int, channels: int, w_dim: int,
                 code_entries: list[int], first: bool) -> None:
        super().__init__()
        self.first = first
        code_dim = len(code_entries)
        # not saved: rebuilt from the generator's arguments, so earlier model folders load
        self.register_buffer("code_entries", torch.tensor(code_entries, dtype=torch.long),
                             persistent=False)
        self.conv1 = None if first else EqualConv2d(n_in, n_out, 3)
        self.conv2 = EqualConv2d(n_out, n_out, 3)
        self.noise_weight = nn.Parameter(torch.zeros(2, n_out))
        self.ada1 = AdaIN(n_out, w_dim, code_dim)
        self.ada2 = AdaIN(n_out, w_dim, code_dim)
        self.to_rgb = EqualConv2d(n_out, channels, 1)

    def _noise(self, h: torch.Tensor, k: int, noise: bool) -> torch.Tensor:
        if not noise:
            return h
        n = torch.randn(h.shape[0], 1, *h.shape[2:], device=h.device, dtype=h.dtype)
        return h + self.noise_weight[k].view(1, -1, 1, 1) * n

    def forward(self, h: torch.Tensor, w: torch.Tensor, c: torch.Tensor | None,
                noise: bool) -> torch.Tensor:
        if c is not None:
            c = c[:, self.code_entries]
        if not self.first:
            h = self.conv1(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.ada1(F.leaky_relu(self._noise(h, 0, noise), 0.2), w, c)
        h = self.conv2(h)
        return self.ada2(F.leaky_relu(self._noise(h, 1, noise), 0.2), w, c)


def block_widths(size: int, width: int, max_width: int) -> list[int]:
    """Channels of each resolution 4, 8, ..., size: `width` at the top, doubling towards 4x4,
    capped at `max_width`."""
    if size < 8 or size & (size - 1):
        raise ValueError(f"image size must be a power of two >= 8, got {size}")
    n = int(math.log2(size)) - 1
    return [min(max_width, width * 2 ** (n - 1 - i)) for i in range(n)]


class StyleGenerator(nn.Module):
    """(z (B, z_dim), c (B, code_dim) or None) -> images (B, C, r, r), r = 4 * 2**stage.

    `code_scales`: indices of the blocks (0 = 4x4) whose styles the codes modulate; None = all.
    `cont_scales`: where the last `n_cont` code entries (InfoGAN's continuous codes, after the
    one-hot categorical ones) enter instead; None = `code_scales` too. A list of `n_cont`
    lists gives each continuous code its own blocks (e.g. [[0, 1], [0, 1], [2, 3]]: two
    coarse codes and a fine one). Each block's code affine map reads only the entries that
    enter it.
    """

    def __init__(self, size: int, channels: int, z_dim: int, code_dim: int, width: int = 32,
                 max_width: int = 256, w_dim: int = 128, mapping_layers: int = 4,
                 code_scales: list[int] | None = None,
                 cont_scales: Sequence[int] | Sequence[Sequence[int]] | None = None,
                 n_cont: int = 0) -> None:
        super().__init__()
        widths = block_widths(size, width, max_width)
        n = len(widths)
        if not 0 <= n_cont <= code_dim:
            raise ValueError(f"n_cont must be in 0..{code_dim}, got {n_cont}")
        scales = list(range(n)) if code_scales is None else sorted(set(code_scales))
        per_code = bool(cont_scales) and all(isinstance(s, (list, tuple)) for s in cont_scales)
        if per_code and len(cont_scales) != n_cont:
            raise ValueError(f"cont_scales needs one list of blocks per continuous code "
                             f"({n_cont}), got {len(cont_scales)}")
        if per_code:
            cont = [sorted(set(s)) for s in cont_scales]
        else:  # the same blocks for every continuous code
            cont = [scales if cont_scales is None else sorted(set(cont_scales))] * n_cont
        for name, given in (("code_scales", scales),
                            ("cont_scales", [s for blocks in cont for s in blocks])):
            if any(not 0 <= s < n for s in given):
                raise ValueError(f"{name} must index blocks 0..{n - 1}, got {given}")
        if any(not blocks for blocks in cont):
            raise ValueError("each continuous code must enter at least one block")
        self.code_scales, self.cont_scales = scales, cont
        self.z_dim, self.code_dim = z_dim, code_dim
        first_cont = code_dim - n_cont
        entries = [[d for d in range(code_dim)
                    if i in (cont[d - first_cont] if d >= first_cont else scales)]
                   for i in range(n)]  # the code entries that block i reads
        layers: list[nn.Module] = []
        for i in range(mapping_layers):
            layers += [EqualLinear(z_dim if i == 0 else w_dim, w_dim, lr_mul=0.01),
                       nn.LeakyReLU(0.2)]
        self.mapping = nn.Sequential(*layers)
        self.const = nn.Parameter(torch.randn(1, widths[0], 4, 4))
        self.blocks = nn.ModuleList(
            StyleBlock(widths[max(i - 1, 0)], widths[i], channels, w_dim, entries[i],
                       first=i == 0)
            for i in range(n)
        )
        self.register_buffer("stage", torch.tensor(n - 1))
        self.register_buffer("alpha", torch.tensor(1.0))

    @property
    def n_blocks(self) -> int:
        return len(self.blocks)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None,
                noise: bool = True) -> torch.Tensor:
        stage, alpha = int(self.stage), float(self.alpha)
        w = self.mapping(pixel_norm(z))
        h = self.const.expand(z.shape[0], -1, -1, -1)
        skip = None
        for i in range(stage + 1):
            if i == stage and i > 0 and alpha < 1:
                skip = F.interpolate(self.blocks[i - 1].to_rgb(h), scale_factor=2,
                                     mode="nearest")
            h = self.blocks[i](h, w, c, noise)
        out = self.blocks[stage].to_rgb(h)
        return out if skip is None else torch.lerp(skip, out, alpha)


class MinibatchStd(nn.Module):
    """Append one channel: the standard deviation of each feature over a group of `group`
    images, averaged over features and pixels (training), or its running mean (eval)."""

    def __init__(self, group: int = 4, momentum: float = 0.01) -> None:
        super().__init__()
        self.group, self.momentum = group, momentum
        self.register_buffer("mbstd_mean", torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        if self.training:
            g = min(self.group, n)
            while n % g:  # the largest group size <= `group` that divides the batch
                g -= 1
            y = x.float().reshape(g, -1, *x.shape[1:])  # (G, N/G, C, H, W)
            std = (y.var(0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (N/G,)
            with torch.no_grad():
                self.mbstd_mean.lerp_(std.mean().detach(), self.momentum)
            stat = std.repeat(g)[:, None, None, None].to(x.dtype)  # image i: group i % (N/G)
        else:
            stat = self.mbstd_mean.to(x.dtype).expand(n, 1, 1, 1)
        return torch.cat([x, stat.expand(n, 1, h, w)], dim=1)


class ProgressiveDiscriminator(nn.Module):
    """images (B, C, r, r) at the generator's current resolution -> (logit (B,), features
    (B, feature_dim)). Mirrors the generator: fromRGB at the entry resolution, blocks of two
    3x3 convolutions and 2x average pooling down to 4x4, then a 3x3 convolution and a linear
    layer to the features that both the real/fake head and an InfoGAN Q head read; with
    `mbstd_group` > 0, a minibatch standard deviation channel enters that last convolution.

    `norm="batch"` puts a BatchNorm after every convolution of the blocks and the head and
    after the feature layer (not after fromRGB), as the InfoGAN authors' discriminators have
    one after every layer but the first; genad computes real and fake batches in separate
    passes, as their code does. `norm="spectral"` normalises every layer's weight by its
    spectral norm instead (InfoGAN-CR's dSprites discriminator; plain layers only).
    `equalized=False` gives plain layers drawn from N(0, 0.02) (DCGAN's and the InfoGAN
    authors' initialisation) instead of the equalised learning rate, under which Adam moves
    every weight by about lr relative to its size (against lr / 0.02 for the plain layers:
    50x more at the same lr)."""

    def __init__(self, size: int, channels: int, width: int = 32, max_width: int = 256,
                 feature_dim: int = 256, mbstd_group: int = 0, norm: str = "none",
                 equalized: bool = True) -> None:
        super().__init__()
        if norm not in ("none", "batch", "spectral"):
            raise ValueError(f"norm must be 'none', 'batch' or 'spectral', got {norm!r}")
        if norm == "spectral" and equalized:
            raise ValueError("norm='spectral' needs plain layers (equalized=False)")
        widths = block_widths(size, width, max_width)
        n = len(widths)
        sn = nn.utils.parametrizations.spectral_norm if norm == "spectral" else (lambda m: m)

        def plain(layer: nn.Module) -> nn.Module:
            init_infogan_weights(layer)  # N(0, 0.02), zero bias
            return sn(layer)

        def conv(n_in: int, n_out: int, kernel: int) -> nn.Module:
            if equalized:
                return EqualConv2d(n_in, n_out, kernel)
            return plain(nn.Conv2d(n_in, n_out, kernel, padding=kernel // 2))

        def linear(n_in: int, n_out: int) -> nn.Module:
            return EqualLinear(n_in, n_out) if equalized else plain(nn.Linear(n_in, n_out))

        def act(c: int, dim: int = 2) -> list[nn.Module]:
            bn = nn.BatchNorm2d(c) if dim == 2 else nn.BatchNorm1d(c)
            return [*([bn] if norm == "batch" else []), nn.LeakyReLU(0.2)]

        self.from_rgb = nn.ModuleList(conv(channels, widths[i], 1) for i in range(n))
        # blocks[i] takes resolution 4 * 2**i down to half of it (block 0 is the 4x4 head)
        self.blocks = nn.ModuleList(
            nn.Sequential(conv(widths[i], widths[i], 3), *act(widths[i]),
                          conv(widths[i], widths[i - 1], 3), *act(widths[i - 1]),
                          nn.AvgPool2d(2))
            for i in range(1, n)
        )
        extra = 1 if mbstd_group else 0
        self.head = nn.Sequential(*([MinibatchStd(mbstd_group)] if mbstd_group else []),
                                  conv(widths[0] + extra, widths[0], 3), *act(widths[0]),
                                  nn.Flatten(), linear(widths[0] * 16, feature_dim),
                                  *act(feature_dim, dim=1))
        self.classifier = linear(feature_dim, 1)
        self.feature_dim = feature_dim
        self.register_buffer("stage", torch.tensor(n - 1))
        self.register_buffer("alpha", torch.tensor(1.0))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stage, alpha = int(self.stage), float(self.alpha)
        h = F.leaky_relu(self.from_rgb[stage](x), 0.2)
        if stage > 0:
            h = self.blocks[stage - 1](h)
            if alpha < 1:
                low = F.leaky_relu(self.from_rgb[stage - 1](F.avg_pool2d(x, 2)), 0.2)
                h = torch.lerp(low, h, alpha)
            for i in range(stage - 1, 0, -1):
                h = self.blocks[i - 1](h)
        f = self.head(h)
        return self.classifier(f).flatten(), f


def growth_schedule(step: int, total: int, n_blocks: int, final_share: float = 0.5
                    ) -> tuple[int, float]:
    """(stage, alpha) at training step `step` of `total` for progressive growing.

    The last resolution's stabilising phase gets `final_share` of the steps; the rest is split
    equally into 4x4 stabilising, then for each higher resolution a fade-in phase (alpha
    rising linearly from 0 to 1) and a stabilising phase (ProGAN Sec. 3 uses equal numbers of
    images per phase; giving the final resolution more is our choice for short runs)."""
    if n_blocks == 1 or total <= 0:
        return n_blocks - 1, 1.0
    phases = 2 * n_blocks - 2  # 4x4 stable, then (fade, stable) per higher block, last stable
    early = (1 - final_share) * total
    length = early / phases
    if step >= early:
        return n_blocks - 1, 1.0
    p = int(step // length)
    stage = (p + 1) // 2
    if p % 2 == 1:  # fading in block `stage`
        return stage, min(1.0, (step - p * length) / length)
    return stage, 1.0


def growth_by_images(images: int, phase_images: int, n_blocks: int) -> tuple[int, float]:
    """(stage, alpha) after `images` training images when every phase (4x4 stabilising, then
    a fade-in and a stabilising phase per higher resolution) lasts `phase_images` images
    (ProGAN Sec. A.1: 600k); the final resolution then trains for the rest of the run."""
    p = images // phase_images
    if n_blocks == 1 or p >= 2 * n_blocks - 2:
        return n_blocks - 1, 1.0
    stage = (p + 1) // 2
    if p % 2 == 1:  # fading in block `stage`
        return stage, (images - p * phase_images) / phase_images
    return stage, 1.0
