"""prosem_core.images: raw/compressed message <-> RGB, JPEG/WebP, by duck typing (no ROS)."""
import array
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from prosem_core import images


def _rgb(h=24, w=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


class Msg(SimpleNamespace):
    pass


@pytest.mark.parametrize("encoding", images.SUPPORTED_ENCODINGS)
def test_raw_roundtrip_every_encoding(encoding):
    rgb = _rgb()
    msg = images.fill_image_msg(Msg(), rgb, encoding)
    back = images.image_msg_to_rgb(msg)
    if encoding == "mono8":
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        assert np.array_equal(back, np.stack([gray] * 3, axis=2))
    else:
        assert np.array_equal(back, rgb)


def test_bgr_channel_order_is_swapped():
    msg = Msg(height=1, width=1, encoding="bgr8", step=3, is_bigendian=0, data=bytes([10, 20, 30]))
    assert images.image_msg_to_rgb(msg).tolist() == [[[30, 20, 10]]]


def test_row_padding_and_array_data():
    rgb = _rgb(5, 7)
    step = 7 * 3 + 5  # padded rows
    rows = [bytes(rgb[i].tobytes()) + b"\xee" * 5 for i in range(5)]
    data = array.array("B", b"".join(rows))  # what rclpy hands back for uint8[]
    msg = Msg(height=5, width=7, encoding="rgb8", step=step, is_bigendian=0, data=data)
    assert np.array_equal(images.image_msg_to_rgb(msg), rgb)
    # The last row's padding may be missing.
    msg.data = b"".join(rows)[:-5]
    assert np.array_equal(images.image_msg_to_rgb(msg), rgb)


@pytest.mark.parametrize(
    "fields, match",
    [
        (dict(encoding="yuv422"), "unsupported"),
        (dict(height=0), "size"),
        (dict(step=10), "step"),
        (dict(data=b"\x00" * 40), "truncated"),
    ],
)
def test_bad_raw_messages(fields, match):
    base = dict(height=4, width=4, encoding="rgb8", step=12, is_bigendian=0, data=b"\x00" * 48)
    base.update(fields)
    with pytest.raises(images.ImageError, match=match):
        images.image_msg_to_rgb(Msg(**base))


def test_jpeg_and_webp_roundtrip_close():
    rgb = cv2.GaussianBlur(_rgb(64, 80), (9, 9), 3)  # smooth, like a photo
    for data in (images.encode_jpeg(rgb, 95), images.encode_webp(rgb, 95)):
        back = images.decode_image_bytes(data)
        assert back.shape == rgb.shape
        assert np.abs(back.astype(int) - rgb.astype(int)).mean() < 6
    assert len(images.encode_jpeg(rgb, 30)) < len(images.encode_jpeg(rgb, 95))


def test_compressed_messages():
    rgb = _rgb(16, 16)
    msg = images.fill_compressed_msg(Msg(), rgb, quality=90)
    assert msg.format == "jpeg"
    assert images.msg_to_rgb(msg).shape == (16, 16, 3)
    ok, png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert np.array_equal(images.msg_to_rgb(Msg(format="png", data=png.tobytes())), rgb)  # lossless
    with pytest.raises(images.ImageError, match="cannot read the compressed image's header"):
        images.compressed_msg_to_rgb(Msg(format="jpeg", data=b"\xff\xd8garbage"))
    header_only = bytearray(images.encode_jpeg(rgb, 90))
    header_only[len(header_only) // 2:] = bytes(len(header_only) - len(header_only) // 2)  # a valid header, broken scan
    with pytest.raises(images.ImageError, match="cannot decode"):
        images.compressed_msg_to_rgb(Msg(format="jpeg", data=bytes(header_only[:200])))
    with pytest.raises(images.ImageError, match="empty"):
        images.compressed_msg_to_rgb(Msg(format="jpeg", data=b""))
    with pytest.raises(images.ImageError, match="unsupported compressed"):
        images.compressed_msg_to_rgb(Msg(format="h264", data=b"\x00"))
    with pytest.raises(images.ImageError, match="not an image"):
        images.msg_to_rgb(object())


def test_bad_arguments():
    with pytest.raises(images.ImageError):
        images.encode_jpeg(_rgb(), 0)
    with pytest.raises(images.ImageError):
        images.encode_jpeg(np.zeros((4, 4), np.uint8))
    with pytest.raises(images.ImageError):
        images.fill_image_msg(Msg(), _rgb(), "yuv")


def test_resize_max_side():
    rgb = _rgb(480, 640)
    assert images.resize_max_side(rgb, 0) is rgb
    assert images.resize_max_side(rgb, 320).shape == (240, 320, 3)
    assert images.resize_max_side(rgb, 1000) is rgb


def test_raw_result_owns_its_memory():
    data = bytearray(_rgb(4, 4).tobytes())
    out = images.image_msg_to_rgb(Msg(height=4, width=4, encoding="rgb8", step=12, is_bigendian=0, data=data))
    before = out.copy()
    data[:] = bytes(len(data))  # the middleware reuses the buffer
    assert np.array_equal(out, before) and out.flags.writeable
