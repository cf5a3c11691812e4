"""A tiny random-weight x4 upscaler directory, laid out as ``stabilityai/stable-diffusion-x4-upscaler`` is,
built without a download.

It has the published model's structure (a UNet taking 4 latent and 3 image channels with a noise-level class
embedding, a VAE whose decoder enlarges 4x, a CLIP text encoder, DDPM for the low-resolution noise and DDIM with
v-prediction for denoising), every part a few channels wide, as diffusers' own upscale pipeline tests build it.
It makes noise at 4x the input's size: what the tests use to run ``upscale`` on open Karlo on a CPU.
"""

from __future__ import annotations

from pathlib import Path

from karlo_devstack.unclip_models import write_tokenizer


def build_tiny_upscaler(directory: Path) -> Path:
    """A ``StableDiffusionUpscalePipeline`` with small random weights, saved to ``directory``."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        DDPMScheduler,
        StableDiffusionUpscalePipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tokenizer_dir = directory / "tokenizer"
    vocab_size = write_tokenizer(tokenizer_dir)
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=7,
        out_channels=4,
        block_out_channels=(8, 16, 32),
        layers_per_block=1,
        norm_num_groups=8,
        down_block_types=("DownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=8,
        use_linear_projection=True,
        num_class_embeds=351,
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 16),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=4,
        norm_num_groups=8,
        scaling_factor=0.08333,
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=vocab_size - 2,
            eos_token_id=vocab_size - 1,
            pad_token_id=vocab_size - 1,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            hidden_act="gelu",
            projection_dim=32,
            vocab_size=vocab_size,
        )
    )
    pipeline = StableDiffusionUpscalePipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=CLIPTokenizer.from_pretrained(str(tokenizer_dir)),
        unet=unet,
        low_res_scheduler=DDPMScheduler(),
        scheduler=DDIMScheduler(prediction_type="v_prediction"),
        max_noise_level=350,
    )
    pipeline.save_pretrained(str(directory))
    return directory


def main(argv: list[str]) -> int:
    """``python -m karlo_devstack.upscaler_model DIR``: build a tiny random-weight x4 upscaler directory."""
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python -m karlo_devstack.upscaler_model DIR")
        return 2
    build_tiny_upscaler(Path(argv[0]))
    print(f"built a tiny random-weight x4 upscaler in {argv[0]}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
