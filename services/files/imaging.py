"""Images: metadata of an upload and its three JPEG thumbnails (Pillow).

`read_image` opens and fully decodes the bytes; what Pillow cannot read (a corrupt or truncated
file, not an image at all, a decompression bomb) is an `InvalidEventError` naming why, so the
event is dead-lettered at once. `metadata` gives ``{dimensions, format, mode, file_size,
camera_model}`` (EXIF ``Model``, tag 0x0110, or None). `thumbnail` fits the image inside
``w x h`` (aspect ratio kept, LANCZOS), as RGB, and `watermark` writes "(c) ACME Corp"
bottom-right with a 10 px margin; `jpeg` encodes at quality 85. Called by the files App.
"""

from __future__ import annotations

import io
import warnings
from typing import Any, Final

from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from tidal import InvalidEventError

SIZES: Final = ((200, 200), (500, 500), (1024, 768))
WATERMARKED: Final = (1024, 768)
WATERMARK: Final = "(c) ACME Corp"
MARGIN: Final = 10
QUALITY: Final = 85
EXIF_MODEL: Final = 0x0110


def read_image(body: bytes) -> Image.Image:
    """The decoded image (`InvalidEventError` if Pillow cannot read all of it)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(body))
            image.load()
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise InvalidEventError(f"not a readable image: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:  # truncated or corrupt data
        raise InvalidEventError(f"corrupt image data: {exc}") from exc
    return image


def metadata(image: Image.Image, size: int) -> dict[str, Any]:
    model = image.getexif().get(EXIF_MODEL)
    return {
        "dimensions": {"width": image.width, "height": image.height},
        "format": image.format,
        "mode": image.mode,
        "file_size": size,
        "camera_model": str(model).strip("\x00 ") if model else None,
    }


def thumbnail(image: Image.Image, width: int, height: int) -> Image.Image:
    small = image.convert("RGB")
    small.thumbnail((width, height), Image.Resampling.LANCZOS)
    return small


def watermark(image: Image.Image) -> Image.Image:
    marked = image.copy()
    draw = ImageDraw.Draw(marked)
    font = ImageFont.load_default()
    left, top, right, bottom = draw.textbbox((0, 0), WATERMARK, font=font)
    x = marked.width - (right - left) - MARGIN - left
    y = marked.height - (bottom - top) - MARGIN - top
    draw.text((x, y), WATERMARK, fill=(255, 255, 255), font=font)
    return marked


def jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=QUALITY)
    return out.getvalue()


def renditions(image: Image.Image) -> list[tuple[int, int, Image.Image]]:
    """The three thumbnails, the largest watermarked."""
    made = []
    for width, height in SIZES:
        small = thumbnail(image, width, height)
        made.append((width, height, watermark(small) if (width, height) == WATERMARKED else small))
    return made
