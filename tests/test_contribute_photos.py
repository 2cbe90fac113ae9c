"""Volunteers' photos are decoded, re-encoded and stripped before storage (issue 18 §2,
SECURITY-CASES S17, S19): real crafted files — a phone JPEG with camera, owner, time and
GPS EXIF, a HEIC, a PNG with text chunks, a decompression bomb, a JPEG whose header
claims gigapixels, a JPEG with a huge EXIF block, an SVG named `.jpg`, an HTML/PNG
polyglot, a truncated JPEG.

Before: `niaouli.ingest.photos` did not exist (every test fails at import); photos would
have been stored as sent, GPS position included.
"""

from __future__ import annotations

import io
import struct
import time
import zlib

import pytest
from PIL import Image, PngImagePlugin

from niaouli import storage
from niaouli.ingest import photos
from niaouli.ingest.errors import IngestError
from niaouli.settings import Settings

GPS = {1: "S", 2: (22.0, 16.0, 33.12), 3: "E", 4: (166.0, 27.0, 26.4), 6: 12.0}


def phone_jpeg(size: tuple[int, int] = (3000, 2000), orientation: int = 6) -> bytes:
    """A photo as a phone writes it: EXIF with camera, owner, time, GPS and orientation."""
    image = Image.new("RGB", size, (180, 40, 40))
    image.paste((20, 20, 200), (0, 0, size[0] // 4, size[1] // 4))  # a mark in a corner
    exif = Image.Exif()
    exif[0x010F] = "NiaouliPhone"  # Make
    exif[0x0110] = "Modele X12"  # Model
    exif[0x013B] = "Jeanne Benevole"  # Artist
    exif[0x8298] = "(c) Jeanne Benevole"  # Copyright
    exif[0x0132] = "2025:03:15 08:01:02"  # DateTime
    exif[0x0112] = orientation
    exif[0x8825] = GPS
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes(), quality=90)
    return out.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def assert_bare(data: bytes) -> Image.Image:
    """A JPEG with no metadata at all, read back by Pillow."""
    for marker in (b"Exif", b"NiaouliPhone", b"Benevole", b"2025:03:15", b"http://ns.adobe.com"):
        assert marker not in data, marker
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    assert dict(image.getexif()) == {}
    assert image.getexif().get_ifd(0x8825) == {}
    assert "exif" not in image.info and "icc_profile" not in image.info
    assert "comment" not in image.info and "xmp" not in image.info
    return image


def test_a_phone_photo_loses_its_exif_and_gps_but_stays_upright(tmp_path):
    sent = phone_jpeg()
    assert b"Exif" in sent and Image.open(io.BytesIO(sent)).getexif().get_ifd(0x8825)
    photo = photos.sanitise(sent, filename="IMG_0001.JPG", content_type="image/jpeg")
    image = assert_bare(photo.data)
    # Orientation 6 (rotate 90° clockwise to view): 3000x2000 becomes portrait, bounded.
    assert (photo.width, photo.height) == image.size
    assert image.height == 2048 and image.width in (1365, 1366)
    # The blue mark of the top-left corner is now at the top right.
    assert image.getpixel((image.width - 50, 50))[2] > 150
    assert image.getpixel((50, 50))[0] > 150

    settings = Settings(data_dir=tmp_path / "data")
    key = photos.store(photo, settings)
    assert photos.is_photo_key(key) and photos.exists(settings, key)
    stored = b"".join(storage.read(settings, key, photos.FILENAME))
    assert stored == photo.data
    assert_bare(stored)
    assert not photos.exists(settings, "photo-" + "0" * 32)
    assert not photos.is_photo_key("../photo-" + "0" * 32)


def test_heic_and_png_metadata_are_stripped_too():
    if not photos.HEIF:
        pytest.skip("pillow-heif is not installed")
    exif = Image.Exif()
    exif[0x010F] = "NiaouliPhone"
    exif[0x8825] = GPS
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (10, 160, 10)).save(out, "HEIF", exif=exif.tobytes())
    assert b"NiaouliPhone" in out.getvalue()
    heic = photos.sanitise(out.getvalue(), filename="IMG_0002.HEIC", content_type="image/heic")
    assert assert_bare(heic.data).size == (640, 480)

    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "Jeanne Benevole")
    text.add_itxt("XML:com.adobe.xmp", "<x:xmpmeta xmlns:x='http://ns.adobe.com'/>")
    out = io.BytesIO()
    Image.new("RGBA", (300, 200), (0, 0, 0, 0)).save(out, "PNG", pnginfo=text, exif=exif.tobytes())
    png = photos.sanitise(out.getvalue(), filename="capture.png")
    image = assert_bare(png.data)
    assert image.getpixel((10, 10)) == (255, 255, 255)  # transparency on white


def test_decompression_bombs_are_refused_before_decoding():  # S17
    # A PNG declaring 30000 x 30000 pixels (900 Mpx) in a few hundred bytes.
    rows = zlib.compress(b"\x00" * 4000, 9)
    bomb = b"\x89PNG\r\n\x1a\n" + png_chunk(
        b"IHDR", struct.pack(">IIBBBBB", 30_000, 30_000, 8, 2, 0, 0, 0)
    )
    bomb += png_chunk(b"IDAT", rows) + png_chunk(b"IEND", b"")
    assert len(bomb) < 1000
    started = time.monotonic()
    with pytest.raises(IngestError, match="trop de pixels"):
        photos.sanitise(bomb, filename="bombe.png")
    # A tiny JPEG whose header claims 65000 x 65000 pixels.
    small = io.BytesIO()
    Image.new("RGB", (16, 16)).save(small, "JPEG")
    data = bytearray(small.getvalue())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    with pytest.raises(IngestError, match="trop de pixels"):
        photos.sanitise(bytes(data), filename="bombe.jpg")
    assert time.monotonic() - started < 2
    with pytest.raises(IngestError, match="photo trop lourde"):
        photos.sanitise(b"\xff\xd8\xff" + b"\x00" * photos.MAX_BYTES, filename="lourde.jpg")


def test_a_huge_exif_block_costs_neither_memory_nor_time():
    """One maximal APP1 EXIF segment (64 kB, a giant MakerNote) and 150 more APP1
    segments of 64 kB each (10 MB of metadata around a small picture)."""
    exif = Image.Exif()
    exif[0x010F] = "NiaouliPhone"
    exif[0x927C] = b"M" * 60_000  # MakerNote
    exif[0x8825] = GPS
    out = io.BytesIO()
    Image.new("RGB", (800, 600), (90, 90, 90)).save(out, "JPEG", exif=exif.tobytes())
    data = out.getvalue()
    extra = b"".join(
        b"\xff\xe1"
        + struct.pack(">H", 65535)
        + b"http://ns.adobe.com/xap/1.0/\x00"
        + b"X" * (65533 - 29)
        for _ in range(150)
    )
    data = data[:2] + extra + data[2:]
    assert len(data) > 9_000_000
    started = time.monotonic()
    photo = photos.sanitise(data, filename="exif-geant.jpg")
    assert time.monotonic() - started < 2
    assert assert_bare(photo.data).size == (800, 600)
    assert len(photo.data) < 100_000


def test_what_only_poses_as_a_photo_is_refused():  # S19
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    for name, kind in (("photo.jpg", "image/jpeg"), ("photo.svg", "image/svg+xml")):
        with pytest.raises(IngestError, match="SVG ou document web refusé"):
            photos.sanitise(svg, filename=name, content_type=kind)
    for junk in (b"%PDF-1.7\n" + b"0" * 100, b"GIF89a" + b"\x00" * 100, b"\x00" * 100):
        with pytest.raises(IngestError, match="pas une photo lisible"):
            photos.sanitise(junk, filename="photo.jpg", content_type="image/jpeg")
    # A real PNG with an HTML page after it: re-encoded, the HTML is gone.
    out = io.BytesIO()
    Image.new("RGB", (50, 50), (1, 2, 3)).save(out, "PNG")
    polyglot = out.getvalue() + b"<html><script>alert(1)</script></html>"
    clean = photos.sanitise(polyglot, filename="p.png", content_type="text/plain")
    assert b"<script>" not in clean.data and clean.media_type == "image/jpeg"
    # A truncated JPEG: a clear error, not a half image.
    with pytest.raises(IngestError, match="tronquée ou abîmée"):
        photos.sanitise(phone_jpeg((400, 300))[:3000], filename="coupee.jpg")
