"""Random-weight unCLIP model directories, laid out as the open Karlo weights are, built without a download.

``build_tiny`` makes a small model (every component a few layers wide) that runs on a CPU in well under a
second: what the tests, ``make bench`` and ``make run`` without real weights use. ``build_full_size`` makes a
model with the published configurations of ``kakaobrain/karlo-v1-alpha`` and random weights: the same compute
as the real model, for measuring a GPU where the real weights cannot be fetched. Either writes two
subdirectories, ``text2img`` and ``variations``, which is the layout ``KARLOQ_OPEN_KARLO_MODEL_DIR`` expects.

The CLIP tokenizer is written from a byte-level vocabulary of its own (every byte, alone and word-final, and no
merges), so prompts tokenize to one token per character.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TEXT2IMG_DIR = "text2img"
VARIATIONS_DIR = "variations"


@dataclass(frozen=True)
class UnclipShape:
    """The sizes that must agree across the components of one unCLIP model."""

    embedding_dim: int
    text_layers: int
    text_heads: int
    text_intermediate: int
    prior_layers: int
    prior_heads: int
    prior_head_dim: int
    decoder_channels: tuple[int, ...]
    decoder_layers: int
    decoder_head_dim: int
    cross_attention_dim: int
    decoder_size: int
    super_res_channels: tuple[int, ...]
    super_res_size: int
    vision_layers: int
    vision_heads: int
    vision_image_size: int
    vision_patch: int
    vision_hidden: int
    vision_intermediate: int
    super_res_layers: int = 1
    super_res_attention: bool = True
    max_text_tokens: int = 77


TINY = UnclipShape(
    embedding_dim=32,
    text_layers=2,
    text_heads=4,
    text_intermediate=37,
    prior_layers=1,
    prior_heads=2,
    prior_head_dim=16,
    decoder_channels=(32, 64),
    decoder_layers=1,
    decoder_head_dim=4,
    cross_attention_dim=64,
    decoder_size=32,
    super_res_channels=(32, 64),
    super_res_size=64,
    vision_layers=2,
    vision_heads=4,
    vision_image_size=32,
    vision_patch=4,
    vision_hidden=32,
    vision_intermediate=37,
)
#: The published configurations of kakaobrain/karlo-v1-alpha (diffusers' conversion script, CLIP ViT-L/14):
#: the prior is diffusers' default PriorTransformer. Only the tokenizer differs (a byte vocabulary, so the text
#: encoder's embedding table is smaller): the compute per step is the real model's.
KARLO_V1_ALPHA = UnclipShape(
    embedding_dim=768,
    text_layers=12,
    text_heads=12,
    text_intermediate=3072,
    prior_layers=20,
    prior_heads=32,
    prior_head_dim=64,
    decoder_channels=(320, 640, 960, 1280),
    decoder_layers=3,
    decoder_head_dim=64,
    cross_attention_dim=1536,
    decoder_size=64,
    super_res_channels=(320, 640, 960, 1280),
    super_res_size=256,
    vision_layers=24,
    vision_heads=16,
    vision_image_size=224,
    vision_patch=14,
    vision_hidden=1024,
    vision_intermediate=4096,
    super_res_layers=3,
    super_res_attention=False,
)


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte-to-character table, which CLIP's tokenizer uses."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars = keep[:]
    extra = 0
    for byte in range(256):
        if byte not in keep:
            keep.append(byte)
            chars.append(256 + extra)
            extra += 1
    return dict(zip(keep, (chr(c) for c in chars), strict=True))


def write_tokenizer(directory: Path, *, max_tokens: int = 77) -> int:
    """A CLIP tokenizer (vocab.json, merges.txt) over single bytes; returns its vocabulary size."""
    from transformers import CLIPTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    letters = list(_bytes_to_unicode().values())
    tokens = [*letters, *(f"{c}</w>" for c in letters), "<|startoftext|>", "<|endoftext|>"]
    vocab = {token: index for index, token in enumerate(tokens)}
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    tokenizer = CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"), model_max_length=max_tokens)
    tokenizer.save_pretrained(str(directory))
    return len(vocab)


def _schedulers() -> dict[str, Any]:
    from diffusers import UnCLIPScheduler

    return {
        "prior_scheduler": UnCLIPScheduler(
            variance_type="fixed_small_log", prediction_type="sample", num_train_timesteps=1000, clip_sample_range=5.0
        ),
        "decoder_scheduler": UnCLIPScheduler(
            variance_type="learned_range", prediction_type="epsilon", num_train_timesteps=1000
        ),
        "super_res_scheduler": UnCLIPScheduler(
            variance_type="fixed_small_log", prediction_type="epsilon", num_train_timesteps=1000
        ),
    }


def _decoder_and_super_res(shape: UnclipShape) -> dict[str, Any]:
    import torch
    from diffusers import UNet2DConditionModel, UNet2DModel
    from diffusers.pipelines.deprecated.unclip import UnCLIPTextProjModel

    torch.manual_seed(0)
    down = ("ResnetDownsampleBlock2D", *["SimpleCrossAttnDownBlock2D"] * (len(shape.decoder_channels) - 1))
    up = (*["SimpleCrossAttnUpBlock2D"] * (len(shape.decoder_channels) - 1), "ResnetUpsampleBlock2D")
    decoder = UNet2DConditionModel(
        sample_size=shape.decoder_size,
        in_channels=3,
        out_channels=6,
        down_block_types=down,
        up_block_types=up,
        mid_block_type="UNetMidBlock2DSimpleCrossAttn",
        block_out_channels=shape.decoder_channels,
        layers_per_block=shape.decoder_layers,
        cross_attention_dim=shape.cross_attention_dim,
        attention_head_dim=shape.decoder_head_dim,
        resnet_time_scale_shift="scale_shift",
        class_embed_type="identity",
    )
    text_proj = UnCLIPTextProjModel(
        clip_embeddings_dim=shape.embedding_dim,
        time_embed_dim=shape.decoder_channels[0] * 4,
        cross_attention_dim=shape.cross_attention_dim,
    )
    blocks = len(shape.super_res_channels)
    super_res: dict[str, Any] = {
        "sample_size": shape.super_res_size,
        "layers_per_block": shape.super_res_layers,
        "add_attention": shape.super_res_attention,
        "down_block_types": ("ResnetDownsampleBlock2D",) * blocks,
        "up_block_types": ("ResnetUpsampleBlock2D",) * blocks,
        "block_out_channels": shape.super_res_channels,
        "in_channels": 6,
        "out_channels": 3,
    }
    first = UNet2DModel(**super_res)
    torch.manual_seed(1)
    last = UNet2DModel(**super_res)
    return {"decoder": decoder, "text_proj": text_proj, "super_res_first": first, "super_res_last": last}


def _text_encoder(shape: UnclipShape, vocab_size: int) -> Any:
    import torch
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(0)
    config = CLIPTextConfig(
        bos_token_id=vocab_size - 2,
        eos_token_id=vocab_size - 1,
        pad_token_id=vocab_size - 1,
        hidden_size=shape.embedding_dim,
        projection_dim=shape.embedding_dim,
        intermediate_size=shape.text_intermediate,
        num_attention_heads=shape.text_heads,
        num_hidden_layers=shape.text_layers,
        max_position_embeddings=shape.max_text_tokens,
        vocab_size=vocab_size,
    )
    return CLIPTextModelWithProjection(config)


def build_text2img(directory: Path, shape: UnclipShape = TINY) -> Path:
    """An ``UnCLIPPipeline`` with random weights, saved to ``directory``."""
    import torch
    from diffusers import PriorTransformer
    from diffusers.pipelines.deprecated.unclip import UnCLIPPipeline
    from transformers import CLIPTokenizer

    tokenizer_dir = directory / "tokenizer"
    vocab_size = write_tokenizer(tokenizer_dir, max_tokens=shape.max_text_tokens)
    torch.manual_seed(0)
    prior = PriorTransformer(
        num_attention_heads=shape.prior_heads,
        attention_head_dim=shape.prior_head_dim,
        embedding_dim=shape.embedding_dim,
        num_layers=shape.prior_layers,
        num_embeddings=shape.max_text_tokens,
    )
    schedulers = _schedulers()
    pipeline = UnCLIPPipeline(
        prior=prior,
        text_encoder=_text_encoder(shape, vocab_size),
        tokenizer=CLIPTokenizer.from_pretrained(str(tokenizer_dir)),
        **_decoder_and_super_res(shape),
        **schedulers,
    )
    pipeline.save_pretrained(str(directory))
    return directory


def build_variations(directory: Path, shape: UnclipShape = TINY) -> Path:
    """An ``UnCLIPImageVariationPipeline`` with random weights, saved to ``directory``."""
    import torch
    from diffusers.pipelines.deprecated.unclip import UnCLIPImageVariationPipeline
    from transformers import CLIPImageProcessor, CLIPTokenizer, CLIPVisionConfig, CLIPVisionModelWithProjection

    tokenizer_dir = directory / "tokenizer"
    vocab_size = write_tokenizer(tokenizer_dir, max_tokens=shape.max_text_tokens)
    torch.manual_seed(0)
    vision = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=shape.vision_hidden,
            projection_dim=shape.embedding_dim,
            num_hidden_layers=shape.vision_layers,
            num_attention_heads=shape.vision_heads,
            image_size=shape.vision_image_size,
            intermediate_size=shape.vision_intermediate,
            patch_size=shape.vision_patch,
        )
    )
    schedulers = _schedulers()
    pipeline = UnCLIPImageVariationPipeline(
        text_encoder=_text_encoder(shape, vocab_size),
        tokenizer=CLIPTokenizer.from_pretrained(str(tokenizer_dir)),
        feature_extractor=CLIPImageProcessor(crop_size=shape.vision_image_size, size=shape.vision_image_size),
        image_encoder=vision,
        decoder_scheduler=schedulers["decoder_scheduler"],
        super_res_scheduler=schedulers["super_res_scheduler"],
        **_decoder_and_super_res(shape),
    )
    pipeline.save_pretrained(str(directory))
    return directory


def build_model_dir(directory: Path, shape: UnclipShape = TINY) -> Path:
    """Both pipelines under ``directory`` (``text2img/`` and ``variations/``); returns ``directory``."""
    build_text2img(directory / TEXT2IMG_DIR, shape)
    build_variations(directory / VARIATIONS_DIR, shape)
    return directory


def main(argv: list[str]) -> int:
    """``python -m karlo_devstack.unclip_models DIR [--full-size]``: build a random-weight model directory."""
    if not argv or argv[0].startswith("-"):
        print("usage: python -m karlo_devstack.unclip_models DIR [--full-size]")
        return 2
    shape = KARLO_V1_ALPHA if "--full-size" in argv else TINY
    build_model_dir(Path(argv[0]), shape)
    print(f"built {'full-size' if shape is KARLO_V1_ALPHA else 'tiny'} random-weight unCLIP models in {argv[0]}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
