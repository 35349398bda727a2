"""What the generative models (VAE family, InfoGAN family) share for disentanglement work.

A model that mixes in `LatentModel` provides
    latent_dim              width of its latent vectors
    sample_latent(n, seed)  (n, latent_dim) latent vectors from its prior
    decode(latent)          (N, C, S, S) images in [-1, 1]
    encode(data)            (N, n_codes) the codes it infers from images, one column per code
    code_specs()            one dict per code: name, kind ("categorical" or "continuous"),
                            the latent columns it occupies, its categories or traversal range
and gets `generate` and `traverse_latent` from here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from genad.errors import ConfigError


class LatentModel(ABC):
    latent_dim: int

    @abstractmethod
    def sample_latent(self, n: int, seed: int = 0) -> np.ndarray: ...

    @abstractmethod
    def decode(self, latent: Any) -> np.ndarray: ...

    @abstractmethod
    def encode(self, data: Any) -> np.ndarray: ...

    @abstractmethod
    def code_specs(self) -> list[dict[str, Any]]: ...

    def generate(self, n: int, seed: int = 0) -> np.ndarray:
        """(n, C, S, S) images in [-1, 1] decoded from prior latents drawn with `seed`."""
        return self.decode(self.sample_latent(n, seed))

    def traverse_latent(self, latent: Any, code: int, steps: int = 8) -> np.ndarray:
        """Copies of one latent vector with code `code` (an index into `code_specs()`) set to
        each of its categories, or to `steps` values evenly over its range:
        (K or steps, latent_dim)."""
        specs = self.code_specs()
        if not 0 <= int(code) < len(specs):
            raise ConfigError(f"code must be in 0..{len(specs) - 1}, got {code}")
        if steps < 2:
            raise ConfigError(f"a traversal needs steps >= 2, got {steps}")
        spec = specs[int(code)]
        base = np.asarray(latent, dtype=np.float32).reshape(-1)
        if base.size != self.latent_dim:
            raise ConfigError(f"latent must have {self.latent_dim} values, got {base.size}")
        if spec["kind"] == "categorical":
            out = np.repeat(base[None], spec["categories"], axis=0)
            out[:, spec["columns"]] = np.eye(spec["categories"], dtype=np.float32)
            return out
        out = np.repeat(base[None], steps, axis=0)
        out[:, spec["columns"][0]] = np.linspace(*spec["range"], steps, dtype=np.float32)
        return out
