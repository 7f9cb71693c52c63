"""Profile photos made with Pillow: a gradient with the persona's initials, as JPEG or PNG."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, ImageOps

from tools.demo.cast import Persona


@dataclass(frozen=True)
class Photo:
    """An encoded portrait and how it is uploaded."""

    content: bytes
    content_type: str
    filename: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def make_photo(persona: Persona, run_id: str) -> Photo:
    """A 256 px gradient with the persona's initials, encoded as their JPEG or PNG."""
    gradient = Image.linear_gradient("L").resize((512, 512)).rotate(45).crop((128, 128, 384, 384))
    image = ImageOps.colorize(gradient, black=persona.colours[0], white=persona.colours[1])
    draw = ImageDraw.Draw(image)
    draw.ellipse((28, 28, 228, 228), outline="white", width=6)
    _draw_centred(draw, persona.initials, _font(96), 128)
    _draw_centred(draw, run_id, _font(14), 238)
    buffer = io.BytesIO()
    if persona.photo_format == "JPEG":
        image.save(buffer, "JPEG", quality=88)
        content_type, extension = "image/jpeg", "jpg"
    else:
        image.save(buffer, "PNG", optimize=True)
        content_type, extension = "image/png", "png"
    return Photo(buffer.getvalue(), content_type, f"{persona.handle}-portrait.{extension}")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except (OSError, ValueError):
        return ImageFont.load_default()


def _draw_centred(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    centre_y: int,
) -> None:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    origin = ((256 - (right - left)) / 2 - left, centre_y - (bottom - top) / 2 - top)
    draw.text(origin, text, font=font, fill="white")
