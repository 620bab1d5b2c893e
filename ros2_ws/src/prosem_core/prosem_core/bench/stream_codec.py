"""The codec over a camera stream, as `prosem bench stream` runs it: keyframe layers and temporal mode.

Both ends run in one process; the link between them is a list. Per frame the sender encodes the
frame's tokens, the receiver gets the first k layers (or nothing, when the frame is lost) and
decodes them. Temporal mode uses the public bookkeeping classes (codec.TemporalEncoder /
TemporalDecoder) and only their documented calls, so it measures whatever reference policy they
implement: receipts go back before the next frame is encoded (a round trip shorter than a frame
interval, 200 ms at 5 fps) unless receipt_delay_frames says otherwise; a frame the receiver cannot
decode makes it ask for a keyframe, which the sender honours on its next frame.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from prosem_core.codec import CodecError, read_header


@dataclass
class ReceivedFrame:
    seq: int
    bytes_sent: int  # bytes of the layers sent for this frame (prefix k), headers included
    keyframe: bool
    reference: int | None  # frame this one was coded against (None: keyframe)
    tokens: np.ndarray | None  # what the receiver decoded (None: lost, or could not be decoded)
    lost: bool = False
    undecodable: bool = False


def _check_prefix(k: int, layer_count: int) -> None:
    if not 1 <= k <= layer_count:
        raise ValueError(f"prefix k must be within 1..{layer_count}, got {k}")


def _lost_mask(lost: np.ndarray | None, n: int) -> np.ndarray:
    if lost is None:
        return np.zeros(n, bool)
    mask = np.asarray(lost, bool)
    if mask.shape != (n,):
        raise ValueError(f"loss mask must have one entry per frame ({n}), got shape {mask.shape}")
    return mask


def keyframe_layers(codec, tokens: np.ndarray) -> list[list[bytes]]:
    """Every frame coded alone (all layers): shared by the keyframe runs of every prefix and loss mask."""
    return [codec.encode(x, frame_seq=i) for i, x in enumerate(tokens)]


def keyframe_stream(codec, encoded: list[list[bytes]], k: int, lost: np.ndarray | None = None) -> list[ReceivedFrame]:
    """Every frame a keyframe (`encoded` = keyframe_layers(...)); the receiver decodes layers[:k] of
    each frame that arrives."""
    _check_prefix(k, codec.layer_count)
    mask = _lost_mask(lost, len(encoded))
    out = []
    for i, layers in enumerate(encoded):
        sent = layers[:k]
        out.append(ReceivedFrame(i, sum(len(b) for b in sent), True, None, None if mask[i] else codec.decode(sent),
                                 lost=bool(mask[i])))
    return out


def temporal_pair(codec, keyframe_interval: int):
    """(TemporalEncoder, TemporalDecoder) for `codec`, through the public API only."""
    from prosem_core.codec import TemporalDecoder, TemporalEncoder

    try:
        return TemporalEncoder(codec, keyframe_interval=keyframe_interval), TemporalDecoder(codec)
    except TypeError as exc:
        raise RuntimeError(f"codec.TemporalEncoder/TemporalDecoder no longer accept (codec, keyframe_interval=N) / "
                           f"(codec): {exc}; update prosem_core.bench.stream_codec") from exc


def temporal_stream(codec, tokens: np.ndarray, k: int, keyframe_interval: int, lost: np.ndarray | None = None,
                    receipt_delay_frames: int = 0) -> list[ReceivedFrame]:
    """Temporal mode: the sender codes against what the receiver confirmed (receipts for prefix k)."""
    _check_prefix(k, codec.layer_count)
    if receipt_delay_frames < 0:
        raise ValueError("receipt_delay_frames must be >= 0")
    mask = _lost_mask(lost, len(tokens))
    enc, dec = temporal_pair(codec, keyframe_interval)
    receipts: deque[tuple[int, int]] = deque()  # (frame the sender sees it before, frame confirmed)
    keyframe_requests: deque[int] = deque()
    out = []
    for i, x in enumerate(tokens):
        while receipts and receipts[0][0] <= i:
            enc.confirm(receipts.popleft()[1], layers=k)
        while keyframe_requests and keyframe_requests[0] <= i:
            keyframe_requests.popleft()
            enc.request_keyframe()
        layers = enc.encode(x, i)[:k]
        h = read_header(layers[0])
        frame = ReceivedFrame(i, sum(len(b) for b in layers), h.keyframe, None if h.keyframe else h.ref_frame_seq, None)
        out.append(frame)
        if mask[i]:
            frame.lost = True
            continue
        try:
            frame.tokens = dec.decode(layers)
        except CodecError:
            frame.undecodable = True
            keyframe_requests.append(i + 1 + receipt_delay_frames)
            continue
        receipts.append((i + 1 + receipt_delay_frames, i))  # the receiver holds it: its receipt goes back
    return out


def question_bytes(frames: list[ReceivedFrame]) -> np.ndarray:
    """Per decoded frame: its bytes plus its reference chain's back to a keyframe (what a receiver
    holding nothing needs for a question about that one frame)."""
    from prosem_core.bench.stream_metrics import chain_bytes

    sizes = {f.seq: f.bytes_sent for f in frames}
    refs = {f.seq: f.reference for f in frames}
    chain = chain_bytes(sizes, refs)
    return np.array([chain[f.seq] for f in frames if f.tokens is not None and f.seq in chain], dtype=np.float64)


def loss_cost(lossless: list[ReceivedFrame], lossy: list[ReceivedFrame]) -> dict:
    """Measured cost of losses: the same frames with and without a loss mask (stream_metrics.loss_events
    per lost frame, plus what the losses changed overall: extra keyframes and bytes)."""
    from prosem_core.bench.stream_metrics import loss_events

    lost = [f.lost for f in lossy]
    sent = np.array([f.bytes_sent for f in lossy], dtype=np.float64)
    out = loss_events(lost, [f.tokens is not None for f in lossy], sent)
    if out["lost_frames"]:
        out["extra_bytes_per_loss"] = float(sent.sum() - sum(f.bytes_sent for f in lossless)) / out["lost_frames"]
    out.update({"undecodable_frames": int(sum(f.undecodable for f in lossy)),
                "keyframes_lossless": int(sum(f.keyframe for f in lossless)),
                "keyframes_lossy": int(sum(f.keyframe for f in lossy)),
                "bytes_per_frame_lossy": float(sent.mean())})
    return out
