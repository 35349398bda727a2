"""Building blocks shared by models: pure torch.nn, no training logic."""
from genad.nn.dcgan import (
    DCDecoder,
    DCDiscriminator,
    DCEncoder,
    conv_autoencoder,
    init_dcgan_weights,
)
from genad.nn.unet import UNet

__all__ = ["DCEncoder", "DCDecoder", "DCDiscriminator", "UNet", "conv_autoencoder",
           "init_dcgan_weights"]
