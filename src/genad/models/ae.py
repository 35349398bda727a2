"""Convolutional autoencoder: the plainest generative detector. Score = mean squared
reconstruction error; the per-pixel squared error is the anomaly map (the network, loss and
score are genad.models.codes.ConvAutoencoder, shared with the code-based detectors)."""

from __future__ import annotations

from genad.models.codes import ConvAutoencoder
from genad.registry import register


@register("ae")
class AutoEncoder(ConvAutoencoder):
    """Convolutional autoencoder scored by its reconstruction error."""
