"""Karlo's request limits, as documented (see docs/karlo-api-notes.md for sources and safe readings).

The edge validation (job_inputs, image_inputs, images) and the storage keys read this table. The simulator keeps
its own copy (karlo_sim.limits), and tests/unit/test_sim_limits.py fails when the two disagree.
"""

from __future__ import annotations

from typing import Final

MODEL_VERSIONS: Final = ("v2.1", "v2.0")
DEFAULT_VERSION: Final = "v2.1"
PROMPT_MAX_CHARS: Final = 256
SAMPLES_MIN: Final = 1
SAMPLES_MAX: Final = 8
SEED_MAX: Final = 2**32 - 1
SIZE_STEP: Final = 8
# 2.0: 384-640 per side (documented). 2.1: up to 1280 (documented); its minimum is not published, so the
# 2.0 minimum is kept as the safe reading.
SIZE_RANGE: Final[dict[str, tuple[int, int]]] = {"v2.0": (384, 640), "v2.1": (384, 1280)}
DEFAULT_SIZE: Final[dict[str, int]] = {"v2.0": 512, "v2.1": 1024}
UPSCALE_FACTORS: Final = (2, 4)
#: The longest side Karlo takes in an input image and makes with its upscaler.
MAX_SIDE: Final = 2048
IMAGE_FORMATS: Final = ("webp", "jpeg", "png")
DEFAULT_IMAGE_FORMAT: Final = "webp"
IMAGE_QUALITY_RANGE: Final = (1, 100)
DEFAULT_IMAGE_QUALITY: Final = 70
STEPS_RANGE: Final = (10, 100)
GUIDANCE_RANGE: Final = (1.0, 20.0)
SCHEDULERS: Final = ("decoder_ddim_v_prediction", "decoder_ddpm_v_prediction")
INPUT_IMAGE_MAX_BYTES: Final = 2 * 1024 * 1024

CONTENT_TYPES: Final[dict[str, str]] = {"webp": "image/webp", "jpeg": "image/jpeg", "png": "image/png"}
FILE_EXTENSIONS: Final[dict[str, str]] = {"webp": "webp", "jpeg": "jpg", "png": "png"}
