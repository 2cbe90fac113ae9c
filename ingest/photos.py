"""Volunteers' photos (cartoparties): decoded, re-encoded and stripped before storage.

A phone photo carries the camera, its owner, the time and the place (EXIF GPS) of the
volunteer, and an upload may be a decompression bomb or an SVG/HTML page named `.jpg`
(SECURITY-CASES S17, S19). So a photo is accepted only when Pillow decodes it as JPEG,
PNG, WebP or HEIC (its content decides, never its name or content type), within a byte
cap and a pixel cap checked from the header before any decoding; it is turned upright
(EXIF orientation), scaled to at most `MAX_SIDE` pixels, and written as a new JPEG from
the bare pixels: no EXIF, XMP, IPTC, ICC profile or comment survives. It is stored under
a server-made key (`photo-<random>`, file `photo.jpg`) through `niaouli.storage`.
"""

from __future__ import annotations

import io
import re
import secrets
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageCms, UnidentifiedImageError

from niaouli import storage
from niaouli.i18n import _
from niaouli.ingest.errors import IngestError
from niaouli.settings import Settings

try:  # HEIC from iPhones, when the optional plugin is installed
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF = True
except ImportError:  # pragma: no cover - depends on the installation
    HEIF = False

MAX_BYTES = 25 << 20  # a 50 MP phone JPEG is about 20 MB
MAX_PIXELS = 40_000_000  # decoded whole: 160 MB at 4 bytes a pixel, at most
MAX_JPEG_PIXELS = 120_000_000  # JPEG is decoded at 1/2, 1/4 or 1/8 scale (`draft`)
MAX_SIDE = 2048
QUALITY = 85
FORMATS = ("JPEG", "PNG", "WEBP", *(("HEIF",) if HEIF else ()))
FILENAME = "photo.jpg"
MEDIA_TYPE = "image/jpeg"
KEY = re.compile(r"^photo-[0-9a-f]{32}$")
SRGB = ImageCms.createProfile("sRGB")
# Upright from EXIF orientation (tag 0x0112): the transposition for values 2..8.
ORIENTATION = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


@dataclass(frozen=True)
class Photo:
    """A sanitised photo: JPEG bytes without any metadata, and its size in pixels."""

    data: bytes
    width: int
    height: int
    media_type: str = MEDIA_TYPE


def _accepted() -> str:
    return "JPEG, PNG, WebP" + (", HEIC" if HEIF else "")


def _refused(name: str) -> IngestError:
    return IngestError(
        _(
            "ce fichier n'est pas une photo lisible (formats acceptés : %(formats)s) ; "
            "une image SVG, une page web ou un document ne sont pas acceptés"
        )
        % {"formats": _accepted()},
        file=name,
    )


def _check_declared(data: bytes, name: str, content_type: str | None) -> None:
    """Refuse at once what says it is SVG or markup, whatever it is named."""
    declared = (content_type or "").split(";")[0].strip().lower()
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if (
        declared in ("image/svg+xml", "text/html", "text/xml", "application/xml")
        or name.lower().endswith((".svg", ".svgz", ".html", ".htm", ".xml"))
        or head.startswith((b"<", b"\x1f\x8b"))  # markup, or gzip (an .svgz)
    ):
        raise IngestError(
            _("image SVG ou document web refusé : seules les photos %(formats)s sont acceptées")
            % {"formats": _accepted()},
            file=name,
        )


def _open(data: bytes, name: str) -> Image.Image:
    """The image, header read only, after the pixel caps (decompression bombs)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(name) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise _refused(name) from None
    width, height = image.size
    cap = MAX_JPEG_PIXELS if image.format == "JPEG" else MAX_PIXELS
    if width <= 0 or height <= 0 or width * height > cap:
        raise _too_many_pixels(name)
    return image


def _too_many_pixels(name: str) -> IngestError:
    return IngestError(
        _("photo refusée : trop de pixels (%(max)s mégapixels au plus)")
        % {"max": MAX_PIXELS // 1_000_000},
        file=name,
    )


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block only loses the orientation
        return 1
    return value if isinstance(value, int) and value in ORIENTATION else 1


def _pixels(image: Image.Image, name: str) -> Image.Image:
    """Decoded pixels in sRGB, upright, at most MAX_SIDE a side, without any metadata."""
    orientation = _orientation(image)
    icc = image.info.get("icc_profile")
    if image.format == "JPEG":
        image.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode at a reduced scale
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.seek(0)  # the first frame of an animated PNG/WebP
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(name) from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError):
        raise IngestError(_("photo tronquée ou abîmée : illisible"), file=name) from None
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    elif image.mode == "CMYK" and icc:
        image = _to_srgb(image, icc, "RGB")
        icc = None
    else:
        image = image.convert("RGB")
    if icc:
        image = _to_srgb(image, icc, "RGB")
    for step in ORIENTATION.get(orientation, ()):
        image = image.transpose(step)
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    # A new image from the bare pixels: nothing of the source's `info` can follow.
    bare = Image.new("RGB", image.size)
    bare.paste(image)
    return bare


def _to_srgb(image: Image.Image, icc: bytes, mode: str) -> Image.Image:
    """Colours kept right (Display P3 phones) once the ICC profile is dropped."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(image, source, SRGB, outputMode=mode) or image
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image.convert(mode)


def sanitise(data: bytes, *, filename: str = "photo", content_type: str | None = None) -> Photo:
    """The photo `data` (as sent, named `filename`) re-encoded as a bare JPEG.

    Raises IngestError (French, or the request's language) for anything that is not a
    readable photo, is too big in bytes or in pixels, or is truncated.
    """
    name = Path(filename.replace("\\", "/")).name[:200] or "photo"
    if not data:
        raise IngestError(_("fichier vide"), file=name)
    if len(data) > MAX_BYTES:
        raise IngestError(
            _("photo trop lourde : %(max)s Mo au plus") % {"max": MAX_BYTES >> 20}, file=name
        )
    _check_declared(data, name, content_type)
    with _open(data, name) as image:
        pixels = _pixels(image, name)
    out = io.BytesIO()
    pixels.save(out, "JPEG", quality=QUALITY, optimize=True, progressive=True)
    return Photo(out.getvalue(), pixels.width, pixels.height)


def store(photo: Photo, settings: Settings) -> str:
    """Store a sanitised photo under a new server-made key, returned."""
    key = "photo-" + secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="niaouli-photo-") as folder:
        path = Path(folder) / FILENAME
        path.write_bytes(photo.data)
        storage.area(settings).put(storage.object_name(key, FILENAME), path, move=True)
    return key


def is_photo_key(key: object) -> bool:
    """True for a key `store` could have made (the form's photo field is checked so)."""
    return isinstance(key, str) and KEY.match(key) is not None


def exists(settings: Settings, key: str) -> bool:
    return is_photo_key(key) and storage.stat(settings, key, FILENAME) is not None
