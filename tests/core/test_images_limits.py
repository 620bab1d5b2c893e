"""Item 8 of issue 12: camera input sizes checked from the header before anything is allocated; depth
images refused with a clear error."""
import struct
import tracemalloc
import zlib
from types import SimpleNamespace as Msg

import cv2
import numpy as np
import pytest

from prosem_core import images
from prosem_core.image_header import ImageHeaderError, read_image_header


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
    except images.ImageError:
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def _png_header(width, height, depth=8, colour=2):
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat = zlib.compress(b"\x00" * 100_000)  # the start of a huge, highly compressible image
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", len(idat)) + b"IDAT" + idat


def test_one_pixel_image_with_a_3_gib_step_is_refused_without_allocating():
    msg = Msg(height=1, width=1, encoding="rgb8", step=3 << 30, is_bigendian=0, data=b"\x01\x02\x03")
    with pytest.raises(images.ImageError, match="step"):
        images.image_msg_to_rgb(msg)
    assert _peak_bytes(lambda: images.image_msg_to_rgb(msg)) < 1 << 20


def test_raw_header_and_data_must_agree():
    with pytest.raises(images.ImageError, match="longer than step x height"):
        images.image_msg_to_rgb(Msg(height=2, width=2, encoding="rgb8", step=6, is_bigendian=0, data=bytes(10_000)))
    with pytest.raises(images.ImageError, match="exceeds the limit"):
        images.image_msg_to_rgb(Msg(height=5000, width=5000, encoding="rgb8", step=15000, is_bigendian=0, data=b""))
    small = images.ImageLimits(max_pixels=100)
    with pytest.raises(images.ImageError, match="exceeds the limit of 100"):
        images.image_msg_to_rgb(Msg(height=20, width=20, encoding="mono8", step=20, is_bigendian=0, data=bytes(400)), small)


def test_padded_rows_still_convert_and_the_last_row_may_omit_its_padding():
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    rows = [rgb[0].tobytes() + b"\xee" * 7, rgb[1].tobytes()]  # step 16, last row unpadded
    out = images.image_msg_to_rgb(Msg(height=2, width=3, encoding="rgb8", step=16, is_bigendian=0, data=b"".join(rows)))
    assert np.array_equal(out, rgb) and out.flags.c_contiguous and out.flags.writeable
    bgr = images.image_msg_to_rgb(Msg(height=2, width=3, encoding="bgr8", step=16, is_bigendian=0,
                                      data=b"".join(rows) + b"\xee" * 7))
    assert np.array_equal(bgr, rgb[:, :, ::-1])


def test_huge_png_refused_from_its_header_before_decoding():
    data = _png_header(30000, 30000)  # the 109 KB PNG that peaked at 5.4 GB
    assert read_image_header(data).pixels == 900_000_000
    msg = Msg(format="png", data=data)
    with pytest.raises(images.ImageError, match="30000x30000"):
        images.compressed_msg_to_rgb(msg)
    assert _peak_bytes(lambda: images.compressed_msg_to_rgb(msg)) < 4 << 20
    within_sides = Msg(format="png", data=_png_header(12000, 12000))  # each side allowed, the pixel count not
    with pytest.raises(images.ImageError, match="144000000 pixels exceeds the limit"):
        images.compressed_msg_to_rgb(within_sides)
    assert _peak_bytes(lambda: images.compressed_msg_to_rgb(within_sides)) < 4 << 20


def test_huge_jpeg_refused_from_its_frame_header():
    jpeg = bytearray(images.encode_jpeg(np.zeros((32, 48, 3), np.uint8)))
    header = read_image_header(bytes(jpeg))
    assert (header.format, header.width, header.height) == ("jpeg", 48, 32)
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5: sof + 9] = struct.pack(">HH", 12000, 12000)
    with pytest.raises(images.ImageError, match="exceeds the limit"):
        images.decode_image_bytes(bytes(jpeg))


def test_webp_sizes_read_from_the_header():
    rgb = np.zeros((24, 40, 3), np.uint8)
    lossy = images.encode_webp(rgb, 80)
    ok, lossless = cv2.imencode(".webp", rgb, [cv2.IMWRITE_WEBP_QUALITY, 101])
    for data in (lossy, lossless.tobytes()):
        h = read_image_header(data)
        assert (h.format, h.width, h.height) == ("webp", 40, 24)
    vp8x = b"RIFF" + b"\x00" * 4 + b"WEBPVP8X" + b"\x00" * 8 + (19999).to_bytes(3, "little") + (19999).to_bytes(3, "little")
    assert read_image_header(vp8x).pixels == 20000 * 20000


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1", "mono16"])
def test_raw_depth_encodings_refused_clearly(encoding):
    with pytest.raises(images.ImageError, match="depth"):
        images.image_msg_to_rgb(Msg(height=2, width=2, encoding=encoding, step=4, is_bigendian=0, data=bytes(16)))


def test_compressed_depth_refused_clearly():
    depth = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    ok, png16 = cv2.imencode(".png", depth)
    with pytest.raises(images.ImageError, match="depth"):
        images.compressed_msg_to_rgb(Msg(format="16UC1; compressedDepth png", data=png16.tobytes()))
    with pytest.raises(images.ImageError, match="16-bit greyscale PNG"):
        images.compressed_msg_to_rgb(Msg(format="png", data=png16.tobytes()))  # mislabelled depth


def test_other_formats_and_garbage_refused():
    ok, bmp = cv2.imencode(".bmp", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(images.ImageError, match="not a PNG, JPEG or WebP"):
        images.decode_image_bytes(bmp.tobytes())
    with pytest.raises(images.ImageError, match="exceeds the limit"):
        images.decode_image_bytes(b"\xff\xd8" + bytes(100), images.ImageLimits(max_compressed_bytes=50))
    for junk in (b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"\xff\xd8\xff\xda\x00\x02"):
        with pytest.raises(ImageHeaderError):
            read_image_header(junk)
