"""Karlo's request limits as the simulator enforces them, written down from Karlo's REST API documentation
(the v2 parameter tables for t2i, variations and inpainting, and the image-input rules).

The simulator keeps its own copy on purpose: it stands in for Karlo, so it must not read the service's idea of
Karlo's rules. tests/unit/test_sim_limits.py compares this table with the service's (karlo_core.karlo.rules) and
fails on any disagreement, so a wrong limit cannot be agreed by both sides.
"""

from __future__ import annotations

from typing import Final

#: Versions a request may name with ``version``, and the one used when it names none (2.1 is recommended).
MODEL_VERSIONS: Final = ("v2.1", "v2.0")
DEFAULT_VERSION: Final = "v2.1"
#: ``prompt`` and ``negative_prompt``: at most 256 characters.
PROMPT_MAX_CHARS: Final = 256
#: ``samples``: 1-8 images per request.
SAMPLES_MIN: Final = 1
SAMPLES_MAX: Final = 8
#: ``seed``: one unsigned 32-bit value per sample.
SEED_MAX: Final = 4_294_967_295
#: ``width``/``height``: multiples of 8; 384-640 on 2.0, up to 1280 on 2.1 (whose minimum is not published, so
#: the 2.0 minimum is the safe reading). Defaults: 512 on 2.0; clients of 2.1 use 1024.
SIZE_STEP: Final = 8
SIZE_RANGE: Final[dict[str, tuple[int, int]]] = {"v2.0": (384, 640), "v2.1": (384, 1280)}
DEFAULT_SIZE: Final[dict[str, int]] = {"v2.0": 512, "v2.1": 1024}
#: ``scale``: 2 or 4; an upscaled image is capped at 2048 px per side. Input images: 2048 px per side at most.
UPSCALE_FACTORS: Final = (2, 4)
MAX_SIDE: Final = 2048
#: ``image_format`` and ``image_quality``.
IMAGE_FORMATS: Final = ("webp", "jpeg", "png")
DEFAULT_IMAGE_FORMAT: Final = "webp"
IMAGE_QUALITY_RANGE: Final = (1, 100)
DEFAULT_IMAGE_QUALITY: Final = 70
#: ``prior_num_inference_steps``/``num_inference_steps`` and ``prior_guidance_scale``/``guidance_scale``.
STEPS_RANGE: Final = (10, 100)
GUIDANCE_RANGE: Final = (1.0, 20.0)
SCHEDULERS: Final = ("decoder_ddim_v_prediction", "decoder_ddpm_v_prediction")
#: Input images (variations, inpainting): at most 2 MB each.
INPUT_IMAGE_MAX_BYTES: Final = 2 * 1024 * 1024

CONTENT_TYPES: Final[dict[str, str]] = {"webp": "image/webp", "jpeg": "image/jpeg", "png": "image/png"}
FILE_EXTENSIONS: Final[dict[str, str]] = {"webp": "webp", "jpeg": "jpg", "png": "png"}


def upscaled_size(width: int, height: int, scale: int) -> tuple[int, int]:
    """Output size after Karlo's upscale: multiplied by ``scale``, longest side capped at ``MAX_SIDE``."""
    factor = min(float(scale), MAX_SIDE / max(width, height))
    return round(width * factor), round(height * factor)
