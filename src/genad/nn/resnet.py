"""ResNets (He et al., CVPR 2016) as ImageNet classifiers are published, for pre-trained
feature extractors: the architecture is code here, the weights a safetensors file the user
has, so loading a backbone never runs code from a file.

The module and parameter names equal torchvision's `resnet18`, `resnet50` and
`wide_resnet50_2` (stride on the 3x3 convolution of a bottleneck, "ResNet v1.5"), so their
state dicts load unchanged; convert one once with
    from safetensors.torch import save_file
    save_file(torchvision.models.resnet18(weights="DEFAULT").state_dict(), "resnet18.safetensors")
`features(x)` gives the outputs of the four stages (strides 4, 8, 16, 32).
"""

from __future__ import annotations

import torch
from torch import nn

#: name -> (block, blocks per stage, width per group)
ARCHS = {
    "resnet18": ("basic", (2, 2, 2, 2), 64),
    "resnet50": ("bottleneck", (3, 4, 6, 3), 64),
    "wide_resnet50_2": ("bottleneck", (3, 4, 6, 3), 128),
}
STAGES = ("layer1", "layer2", "layer3", "layer4")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the statistics the ImageNet weights were trained with
IMAGENET_STD = (0.229, 0.224, 0.225)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int, width_per_group: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = _bn(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = _bn(planes)
        self.downsample = _shortcut(cin, planes, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int, width_per_group: int) -> None:
        super().__init__()
        width = planes * width_per_group // 64
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = _bn(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = _bn(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = _bn(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(cin, planes * 4, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def _shortcut(cin: int, cout: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), _bn(cout))


class ResNet(nn.Module):
    """An ImageNet ResNet: (B, 3, H, W) normalised images -> (B, 1000) logits; `features`
    gives the four stages' maps. classifier=False leaves out the pooling and the 1000-way
    layer (a feature extractor then has no weights it never uses)."""

    def __init__(self, arch: str = "resnet18", classifier: bool = True) -> None:
        super().__init__()
        kind, blocks, width_per_group = ARCHS[arch]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = _bn(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), blocks)):
            layers = []
            for j in range(n):
                layers.append(block(cin, planes, 2 if i and not j else 1, width_per_group))
                cin = planes * block.expansion
            setattr(self, STAGES[i], nn.Sequential(*layers))
        if classifier:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(cin, 1000)

    def features(self, x: torch.Tensor, stages: tuple[str, ...] = STAGES) -> list[torch.Tensor]:
        """The maps of the named stages, in order (B, C_l, H / 2^(l+1), W / 2^(l+1)); runs
        no further than the last one asked for."""
        h = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        out = []
        for name in STAGES[: max(STAGES.index(s) for s in stages) + 1]:
            h = getattr(self, name)(h)
            if name in stages:
                out.append(h)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (h,) = self.features(x, ("layer4",))
        return self.fc(self.avgpool(h).flatten(1))


def imagenet_input(x: torch.Tensor) -> torch.Tensor:
    """genad's images ([-1, 1], 1 or 3 channels) as an ImageNet network expects them: [0, 1],
    three channels (grey repeated), minus ImageNet's mean, over its std."""
    x = (x.float() + 1) / 2
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std
