"""TensorFlow 1's `tf.train.RMSPropOptimizer`, as torch's RMSprop, for the models whose
authors' code uses it (ALOCC: models.py train(); f-AnoGAN: z_encoding_izif.py train_enc_izi).

Not a model: it registers nothing, so every model module may import it.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def tf_rmsprop(params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.RMSprop:
    """RMSprop with TF 1's defaults: decay 0.9, no momentum, epsilon 1e-10, and the mean square
    of every weight starting at 1 (TF's `rms` slot is initialised with ones; torch's with
    zeros, which makes the first steps about lr * sign(grad) / sqrt(0.1), three times lr,
    where TF's are about lr * grad). TF adds epsilon inside the square root, torch outside:
    at 1e-10 the two agree."""
    opt = torch.optim.RMSprop(params, lr=lr, alpha=0.9, eps=1e-10)
    for group in opt.param_groups:
        for p in group["params"]:  # torch keeps a parameter's state once it exists
            opt.state[p] = {"step": torch.zeros(()),
                            "square_avg": torch.ones_like(p, memory_format=torch.preserve_format)}
    return opt
