"""Turn uploaded bytes into a decoded picture, or say precisely why they are not one.

Every refusal is a ``BadInput`` carrying the HTTP status, a short reason (the label of the service's
error counter) and a message for the client. Decoding happens in two steps because they fail apart:
``Image.open`` reads only the header (not an image at all?), ``load`` decodes the pixels (truncated?).
"""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

# Only these decoders run on uploads: fewer formats, less decoder code exposed to strangers' bytes (PIL
# would otherwise also try, for example, EPS, which calls Ghostscript).
FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")
DEFAULT_MAX_PIXELS = 4096 * 4096


class BadInput(ValueError):
    """A request the service refuses: HTTP ``status``, a short ``reason`` and a message saying what to fix."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Return the fully decoded picture in ``data``, or raise BadInput (empty, not an image, huge, truncated)."""
    if not data:
        raise BadInput(400, "empty_file", "The uploaded file is empty (0 bytes). Send the image's bytes.")
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError as err:
        raise BadInput(413, "too_many_pixels", f"The image has too many pixels to decode safely ({err}).") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise BadInput(400, "not_an_image", f"The file is not an image the service can read "
                                            f"({', '.join(FORMATS)} are accepted).") from err
    width, height = image.size
    # Checked before decoding: a few kilobytes of PNG can claim a picture of gigabytes.
    if width * height > max_pixels:
        raise BadInput(413, "too_many_pixels", f"The image is {width}x{height} pixels, more than the limit of "
                                               f"{max_pixels:,} pixels. Send a smaller image.")
    if width == 0 or height == 0:
        raise BadInput(400, "not_an_image", f"The image is {width}x{height} pixels: it has no pixels.")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise BadInput(400, "truncated_image", f"The {image.format} image could not be decoded: it is truncated "
                                               f"or damaged ({err}). Send the complete file.") from err
    return image
