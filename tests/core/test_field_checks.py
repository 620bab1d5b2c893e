"""Item 1 of issue 12: every message field range-checked before use (field_checks, jpeg_frame_id),
and the Assembler refusing out-of-range layers so no forged value reaches a response field."""
import math

import pytest
from layer_helpers import frame_layers, small_codec

from prosem_core import field_checks as fc
from prosem_core.assembly import Assembler, AssemblyConfig, LayerIn
from prosem_core.auth import FeedbackFields
from prosem_core.codec import read_header
from prosem_core.jpeg_frame_id import format_jpeg_frame_id, parse_jpeg_frame_id


def _layer(seq=2, index=0, **override):
    layers = frame_layers(seq)
    h = read_header(layers[index])
    li = LayerIn("robot1", 1, seq, index, h.layer_count, h.codebook_id, layers[index], tuple(h.token_shape), h.fidelity)
    for name, value in override.items():
        setattr(li, name, value)
    return li


def _asm():
    codec = small_codec()
    return Assembler(AssemblyConfig(codebook_id=codec.codebook_id), read_header=read_header, decode=codec.decode,
                     clock=lambda: 100.0, wall_clock=lambda: 100.0)


@pytest.mark.parametrize("field, value", [
    ("frame_seq", 2**63), ("frame_seq", 2**64 - 1), ("frame_seq", 2**32), ("frame_seq", -1),
    ("epoch", -1), ("epoch", 2**32),
    ("layer_index", 40), ("layer_count", 0), ("layer_count", 33),
    ("stream_id", ""), ("stream_id", "x" * 65), ("stream_id", "robot\x00"), ("stream_id", "a\nb"),
    ("codebook_id", "c" * 100), ("codec_id", "\x07"),
    ("token_shape", (0, 5)), ("token_shape", (1,) * 5), ("token_shape", (2**16, 1)),
    ("fidelity", math.inf), ("fidelity", 1.5),
    ("send_stamp_ns", -1), ("send_stamp_ns", 2**63),
    ("auth_tag", b"short"),
])
def test_out_of_range_layer_fields_are_rejected_with_the_field_named(field, value):
    li = _layer(**{field: value})
    with pytest.raises(fc.FieldError) as err:
        fc.check_layer(li, 64 << 10)
    assert err.value.field == field.removesuffix("_ns")
    a = _asm()
    r = a.add(li)
    assert r.status == "out_of_range" and r.detail.startswith(field.removesuffix("_ns") + ":")
    assert a.counters["out_of_range"] == 1 and not a.streams


def test_forged_frame_seq_above_2_63_never_reaches_a_frame():
    """The crash of issue 12 item 1: a valid layer with frame_seq >= 2^63 (the low 32 bits agree with
    the payload header) used to be stored and later overflow the int64 Query.frame_seq."""
    a = _asm()
    forged = _layer(seq=2, frame_seq=2**63 + 2)
    assert forged.frame_seq & 0xFFFFFFFF == read_header(forged.payload).frame_seq
    assert a.add(forged).status == "out_of_range"
    assert a.add(_layer(seq=2)).accepted
    assert all(0 <= f.frame_seq < 2**32 for s in a.streams.values() for f in s.frames.values())


def test_valid_layer_passes():
    fc.check_layer(_layer(), 64 << 10)


def test_scalar_checks():
    assert fc.check_frame_seq(2**32 - 1) == 2**32 - 1
    with pytest.raises(fc.FieldError, match="integer"):
        fc.check_frame_seq(1.0)
    with pytest.raises(fc.FieldError, match="integer"):
        fc.check_epoch(True)
    assert fc.stamp_ns(3, 5) == 3_000_000_005
    with pytest.raises(fc.FieldError, match="stamp.sec"):
        fc.stamp_ns(-1, 0)
    with pytest.raises(fc.FieldError, match="stamp.nanosec"):
        fc.stamp_ns(1, 1_000_000_000)
    for bad in (math.nan, math.inf, -0.5):
        with pytest.raises(fc.FieldError, match="finite"):
            fc.check_seconds("hold_s", bad)
    assert fc.check_frame_id("camera_color_optical_frame") == "camera_color_optical_frame"
    with pytest.raises(fc.FieldError, match="at most 256"):
        fc.check_frame_id("f" * 100_000)  # the 100 KB frame_id copied into every layer
    assert fc.clip("x" * 100, 10) == "xxxxxxx..."


@pytest.mark.parametrize("field, value", [
    ("frame_seq", 2**63), ("epoch", -3), ("received_mask", 2**32), ("prefix_layers", 33), ("pull_layers", 200),
    ("hold_s", math.nan), ("hold_s", -1.0), ("reason", "r" * 1000), ("status", 9), ("stamp_ns", -5),
    ("stream_id", ""),
])
def test_out_of_range_feedback_fields(field, value):
    good = FeedbackFields("robot1", 3, 7, received_mask=1, prefix_layers=1, hold_s=0.01)
    fc.check_feedback(good)
    with pytest.raises(fc.FieldError) as err:
        fc.check_feedback(FeedbackFields(**{**good.__dict__, field: value}))
    assert err.value.field == field


def test_jpeg_frame_id_roundtrip_and_range_checked_parse():
    text = format_jpeg_frame_id("robot:1", 4294967295, 12)
    parsed = parse_jpeg_frame_id(text)
    assert (parsed.stream_id, parsed.epoch, parsed.frame_seq) == ("robot:1", 4294967295, 12)
    bad = ["r:-1:3",  # the negative epoch that killed the cloud in full_cloud mode
           "r:1:-3", "r:4294967296:1", "r:1:99999999999999999999", "r:1:1_0", "r:1: 3", "r:1:+3",
           "r:\u0661:1",  # an Arabic-Indic digit: int() takes it, the wire format does not
           ":1:2", "r:1", "noseparators", "r" * 300 + ":1:2", "r\x00:1:2"]
    for frame_id in bad:
        with pytest.raises(ValueError):
            parse_jpeg_frame_id(frame_id)
    with pytest.raises(fc.FieldError):
        format_jpeg_frame_id("r", -1, 0)
