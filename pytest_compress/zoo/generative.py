"""Generative models of sklearn's digits (8x8 scans, train split only), trained here and cached.

``digits-vae`` — an MLP variational autoencoder with a 16-dimensional Gaussian latent and a
categorical decoder over each pixel's 17 grey levels (the scans are integers 0..16), so its
likelihood is a real discrete likelihood. Metric: the held-out negative ELBO in bits per
dimension (64 pixels), per example, estimated with ``ELBO_SAMPLES`` latent draws that ride in
the eval inputs (``[pixels / 16 | standard-normal draws]``) so reference and compressed model see
the same noise. Latency: "elbo" (the forward on one example) and "decode-1" (one latent -> one
image, the model's generation path).

``digits-diffusion`` — a diffusers ``UNet2DModel`` (two resolutions, 8x8 and 4x4, self-attention at
4x4) trained to predict noise under a cosine DDPM schedule, sampled by DDIM (deterministic, eta 0)
in ``SAMPLE_STEPS`` steps. Its eval inputs are ``SAMPLES`` initial noise tensors from a fixed
seed: reference and compressed model start every sample from the same noise, so the comparison
is paired sample by sample. Metrics (``pytest_compress.measure.generative``) use the suite's own
trained classifier, the ``digits-cnn`` reference (same draw): the Fréchet distance of the
samples' penultimate-layer features to the held-out real digits' (primary), the total variation
distance of the samples' predicted-label distribution to the real one, and the number of the
ten digits the samples are labelled with. Latency: one sample, the full sampling loop.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from pytest_compress import progress
from pytest_compress.spec import Metric, ModelSpec, register_model
from pytest_compress.zoo.digits import digits

LEVELS = 17  # grey levels of the scans: 0..16
PIXELS = 64
LATENT = 16
ELBO_SAMPLES = 8
NOISE_SEED = 20261129  # eval noise: ELBO draws and diffusion starting points
SAMPLES = 360  # as many samples as held-out real digits
SAMPLE_STEPS = 20
TRAIN_TIMESTEPS = 1000
CLASSIFIER = "digits-cnn"


@dataclass(frozen=True)
class GenSettings:
    """Step-based training: random minibatches drawn with a generator seeded from the global seed
    the plugin set for this draw, so every draw trains on its own minibatch order too."""

    steps: int
    lr: float
    batch_size: int = 128
    seed: int = 0

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _train(model: nn.Module, loss_fn, s: GenSettings, name: str, n: int) -> None:  # noqa: ANN001
    threads = torch.get_num_threads()
    # One thread: these models are small enough that a second thread only adds synchronisation,
    # and on a shared 2-core machine it made a VAE step 6x slower (94 vs 15 ms measured).
    torch.set_num_threads(1)
    try:
        _steps(model, loss_fn, s, name, n)
    finally:
        torch.set_num_threads(threads)


def _steps(model: nn.Module, loss_fn, s: GenSettings, name: str, n: int) -> None:  # noqa: ANN001
    gen = torch.Generator().manual_seed(torch.initial_seed())
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=s.lr, total_steps=s.steps, pct_start=0.1)
    start, recent = time.perf_counter(), []
    model.train()
    for step in range(s.steps):
        loss = loss_fn(torch.randint(0, n, (s.batch_size,), generator=gen), gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        recent.append(loss.item())
        if (step + 1) % max(1, s.steps // 10) == 0:
            avg = sum(recent) / len(recent)
            progress.report(f"{name}: step {step + 1}/{s.steps} loss {avg:.4f} ({time.perf_counter() - start:.0f} s)")
            recent.clear()
    model.eval()


# -- VAE ----------------------------------------------------------------------------------------


class DigitsVAE(nn.Module):
    """MLP encoder -> N(mu, sigma^2) over ``LATENT`` dims -> MLP decoder -> 17-way logits per pixel."""

    def __init__(self, hidden: int = 128) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(PIXELS, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2 * LATENT)
        )
        self.decoder = nn.Sequential(
            nn.Linear(LATENT, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, PIXELS * LEVELS),
        )

    def neg_elbo(self, pixels: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Negative ELBO in nats per example; ``pixels`` (B, 64) in [0, 1], ``eps`` (B, S, LATENT)."""
        mu, logvar = self.encoder(pixels).chunk(2, dim=-1)
        z = mu[:, None] + (0.5 * logvar).exp()[:, None] * eps  # (B, S, L)
        logits = self.decoder(z).reshape(*z.shape[:2], PIXELS, LEVELS)
        target = (pixels * (LEVELS - 1)).round().long()[:, None].expand(-1, z.shape[1], -1)
        nll = F.cross_entropy(logits.flatten(0, 2).float(), target.flatten(), reduction="none")
        recon = nll.reshape(z.shape[0], z.shape[1], PIXELS).sum(-1).mean(1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)
        return recon + kl

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """``inputs``: rows of [64 pixels | S x LATENT normal draws] -> negative ELBO (nats)."""
        eps = inputs[:, PIXELS:].reshape(len(inputs), -1, LATENT)
        return self.neg_elbo(inputs[:, :PIXELS], eps)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B, LATENT) -> expected images (B, 1, 8, 8) in [0, 1]."""
        probs = self.decoder(z).reshape(len(z), PIXELS, LEVELS).float().softmax(-1)
        grey = torch.linspace(0, 1, LEVELS, device=z.device)
        return (probs @ grey).reshape(len(z), 1, 8, 8)


VAE_TRAINING = GenSettings(steps=1500, lr=2e-3)


def fit_vae(model: DigitsVAE, data: tuple[torch.Tensor, ...], s: GenSettings, name: str) -> None:
    pixels = data[0][:, :PIXELS]

    def loss(idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        eps = torch.randn(len(idx), 1, LATENT, generator=gen)
        return model.neg_elbo(pixels[idx], eps).mean() / PIXELS

    _train(model, loss, s, name, len(pixels))


def _with_eps(pixels: torch.Tensor, seed: int) -> torch.Tensor:
    eps = torch.randn(len(pixels), ELBO_SAMPLES * LATENT, generator=torch.Generator().manual_seed(seed))
    return torch.cat([pixels.flatten(1), eps], dim=1)


def _bits_per_dim(outputs: torch.Tensor, _targets: torch.Tensor) -> torch.Tensor:
    from pytest_compress.measure.generative import bits_per_dim

    return bits_per_dim(outputs.double(), PIXELS)


BITS_PER_DIM = Metric(
    name="neg-elbo",
    unit="bits/dim",
    higher_is_better=False,
    score=_bits_per_dim,
    definition=(
        f"held-out negative ELBO per example in bits per pixel (64 pixels, {LEVELS}-level categorical "
        f"likelihood), {ELBO_SAMPLES} fixed latent draws per example (seed {NOISE_SEED})"
    ),
)


def _decode_workload(z: torch.Tensor, module: nn.Module):  # noqa: ANN202
    return functools.partial(module.decode, z)


@register_model("digits-vae")
def digits_vae() -> ModelSpec:
    """MLP VAE on sklearn digits (8x8, 17 grey levels, 16-d latent)."""
    x_tr, y_tr, x_te, y_te = digits(8, 1)
    eval_x = _with_eps(x_te, NOISE_SEED)
    return ModelSpec(
        build=DigitsVAE,
        train=functools.partial(fit_vae, s=VAE_TRAINING, name="digits-vae"),
        train_data=(x_tr.flatten(1), y_tr),
        eval_data=(eval_x, y_te),
        calib_data=_with_eps(x_tr[:256], NOISE_SEED + 1),
        example_inputs=(eval_x[:1],),
        metric=BITS_PER_DIM,
        settings={**VAE_TRAINING.as_dict(), "latent": LATENT, "levels": LEVELS},
        eval_batch_size=len(eval_x),
        workloads={"decode-1": functools.partial(_decode_workload, torch.zeros(1, LATENT))},
        forward_name="elbo",
    )


# -- diffusion ----------------------------------------------------------------------------------

UNET_ARCH = {
    "sample_size": 8,
    "in_channels": 1,
    "out_channels": 1,
    "layers_per_block": 1,
    "block_out_channels": (16, 32),
    "down_block_types": ("DownBlock2D", "AttnDownBlock2D"),
    "up_block_types": ("AttnUpBlock2D", "UpBlock2D"),
    "norm_num_groups": 8,
    "attention_head_dim": 16,
}
SCHEDULE = {"num_train_timesteps": TRAIN_TIMESTEPS, "beta_schedule": "squaredcos_cap_v2"}
DIFFUSION_TRAINING = GenSettings(steps=2000, lr=2e-3, batch_size=64)


class DigitsDiffusion(nn.Module):
    """A UNet2DModel plus its noise schedule; ``forward(noise)`` runs DDIM from that noise and
    returns the samples in [0, 1] (the full sampling loop: what one generated image costs)."""

    def __init__(self) -> None:
        super().__init__()
        from diffusers import UNet2DModel

        self.unet = UNet2DModel(**UNET_ARCH)

    @staticmethod
    def training_schedule():  # noqa: ANN205
        from diffusers import DDPMScheduler

        return DDPMScheduler(**SCHEDULE)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        from diffusers import DDIMScheduler

        sampler = DDIMScheduler.from_config(self.training_schedule().config)
        sampler.set_timesteps(SAMPLE_STEPS)
        x = noise
        for t in sampler.timesteps:
            eps = self.unet(x, t).sample.to(x.dtype)
            x = sampler.step(eps, t, x).prev_sample
        return ((x.clamp(-1, 1) + 1) / 2).float()


def fit_diffusion(model: DigitsDiffusion, data: tuple[torch.Tensor, ...], s: GenSettings, name: str) -> None:
    images = data[0] * 2 - 1  # [-1, 1], as the schedule assumes
    schedule = model.training_schedule()

    def loss(idx: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        x0 = images[idx]
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, TRAIN_TIMESTEPS, (len(idx),), generator=gen)
        return F.mse_loss(model.unet(schedule.add_noise(x0, noise, t), t).sample, noise)

    _train(model, loss, s, name, len(images))


def classifier_outputs(classifier: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The digits-cnn's penultimate features (after the hidden layer's ReLU) and its one-hot
    predicted labels, for images (B, 1, 8, 8) in [0, 1]."""
    with torch.inference_mode():
        hidden = classifier.head[:3](classifier.features(images.float()))
        labels = classifier.head[3:](hidden).argmax(-1)
    return hidden.double(), F.one_hot(labels, 10).double()


def sample_metrics(classifier: nn.Module, real_images: torch.Tensor, real_labels: torch.Tensor) -> tuple[Metric, ...]:
    """Fréchet distance, label TV distance and classes covered, all scored by ``classifier``."""
    from pytest_compress.measure.generative import (
        Gaussian,
        classes_covered,
        frechet_to,
        label_tv_to,
        set_metric_parts,
    )

    features, _ = classifier_outputs(classifier, real_images)
    real = Gaussian.fit(features.numpy())
    balance = (torch.bincount(real_labels, minlength=10).double() / len(real_labels)).tolist()
    on = f"{SAMPLES} samples, DDIM {SAMPLE_STEPS} steps from fixed noise (seed {NOISE_SEED})"
    by = f"the {CLASSIFIER} reference of the same draw"

    def feats(samples: torch.Tensor, _t: torch.Tensor) -> torch.Tensor:
        return classifier_outputs(classifier, samples)[0].cpu()

    def labels(samples: torch.Tensor, _t: torch.Tensor) -> torch.Tensor:
        return classifier_outputs(classifier, samples)[1].cpu()

    return (
        Metric(
            name="frechet",
            unit="feature units^2",
            higher_is_better=False,
            score=feats,
            aggregate="set",
            **set_metric_parts(frechet_to(real), higher_is_better=False),
            definition=f"Fréchet distance of {on} to the {len(real_images)} held-out digits in the "
            f"penultimate-layer features of {by}",
        ),
        Metric(
            name="label-tv",
            unit="fraction",
            higher_is_better=False,
            score=labels,
            aggregate="set",
            **set_metric_parts(label_tv_to(balance), higher_is_better=False),
            definition=f"total variation distance between the labels {by} gives {on} and the "
            "held-out digits' label distribution",
        ),
        Metric(
            name="classes",
            unit="of 10",
            higher_is_better=True,
            score=labels,
            aggregate="set",
            **set_metric_parts(classes_covered, higher_is_better=True),
            definition=f"number of the ten digits {by} labels at least one of {on} with",
        ),
    )


@register_model("digits-diffusion")
def digits_diffusion() -> ModelSpec:
    """diffusers UNet2DModel (DDPM-trained, DDIM-sampled) on sklearn digits (8x8)."""
    from pytest_compress.models import trained_reference

    x_tr, y_tr, x_te, y_te = digits(8, 1)
    noise = torch.randn(SAMPLES, 1, 8, 8, generator=torch.Generator().manual_seed(NOISE_SEED))
    primary, *extra = sample_metrics(trained_reference(CLASSIFIER), x_te, y_te)
    return ModelSpec(
        build=DigitsDiffusion,
        train=functools.partial(fit_diffusion, s=DIFFUSION_TRAINING, name="digits-diffusion"),
        train_data=(x_tr, y_tr),
        eval_data=(noise, torch.arange(SAMPLES)),
        calib_data=noise[:64],
        example_inputs=(noise[:1],),
        metric=primary,
        extra_metrics=tuple(extra),
        settings={**DIFFUSION_TRAINING.as_dict(), "arch": UNET_ARCH, "schedule": SCHEDULE},
        eval_batch_size=SAMPLES,
        forward_name="sample-1",
    )
