"""The generative zoo's models measure what their metrics say (untrained, so these run in seconds):
the VAE's score is a likelihood bound in bits per pixel that depends on the noise it is given, and
the diffusion sampler is a deterministic function of its starting noise (what pairs the samples)."""

from __future__ import annotations

import math

import torch

from pytest_compress.zoo import generative as g


def test_vae_bits_per_dim_start_near_a_uniform_guess_over_the_grey_levels() -> None:
    torch.manual_seed(0)
    vae = g.DigitsVAE().eval()
    pixels = torch.randint(0, g.LEVELS, (32, g.PIXELS)).float() / (g.LEVELS - 1)
    with torch.inference_mode():
        bpd = g.BITS_PER_DIM.score(vae(g._with_eps(pixels, 1)), torch.zeros(32))
    # Near-zero initial logits: about log2(17) = 4.09 bits per pixel, plus a little KL.
    assert bpd.shape == (32,)
    assert (bpd > math.log2(g.LEVELS) - 0.3).all() and (bpd < math.log2(g.LEVELS) + 1.0).all()


def test_vae_score_is_a_function_of_the_noise_in_its_inputs() -> None:
    torch.manual_seed(0)
    vae = g.DigitsVAE().eval()
    pixels = torch.rand(8, g.PIXELS)
    with torch.inference_mode():
        a, b, c = vae(g._with_eps(pixels, 1)), vae(g._with_eps(pixels, 1)), vae(g._with_eps(pixels, 2))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_vae_decode_gives_images_in_range() -> None:
    with torch.inference_mode():
        images = g.DigitsVAE().eval().decode(torch.randn(3, g.LATENT))
    assert images.shape == (3, 1, 8, 8)
    assert images.min() >= 0 and images.max() <= 1


def test_diffusion_sampling_is_deterministic_in_its_starting_noise() -> None:
    torch.manual_seed(0)
    model = g.DigitsDiffusion().eval()
    noise = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        a, b = model(noise), model(noise.clone())
        c = model(torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(4)))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert a.shape == (2, 1, 8, 8) and a.min() >= 0 and a.max() <= 1
