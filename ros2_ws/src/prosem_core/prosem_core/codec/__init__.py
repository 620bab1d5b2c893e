"""Meta AutoEncoder: a training-free, progressive, model-aware codec for visual tokens.

API (fixed; docs/architecture.md):

    from prosem_core.codec import MetaAutoEncoder, CodecError, read_header, default_codec
    ae = MetaAutoEncoder.fit(calib_tokens, model=None, **config)  # [N, T, D] float32, closed form
    ae.save(path); ae = MetaAutoEncoder.load(path)                 # path.npz + path.json, no pickle
    layers = ae.encode(tokens, frame_seq=0)                        # [T, D] -> list[bytes], coarse to fine
    tokens_hat = ae.decode(layers[:k])                             # any prefix k >= 1 -> [T, D] float32
    ae.codebook_id                                                 # 16 hex chars, content hash, in every layer
    ae.fidelity(layers[:k])                                        # 0..1 from the prefix's headers alone
    h = read_header(layer_bytes)                                   # LayerHeader (see layer_format.py)
    ae = default_codec()                                           # the shipped codebook (EfficientNet-Lite0)

`model` (what the downstream model reads): None, a linear map W [M, D] the model applies to every
token, or an object with `first_linear_map() -> W`. Errors W cannot see cost (almost) nothing;
directions W amplifies get the bits. `config`: see CodecConfig (layer plan, byte budgets, ...).

Token layouts. Tokens [T, D] are one square grid by default (1 x T if T is not a square). For
several views (e.g. SmolVLM image splitting: 13 views x 64 tokens = 832), pass the layout to fit:

    ae = MetaAutoEncoder.fit(tokens, model=vlm, views=13)           # 13 blocks of 64 = 8 x 8 each
    ae = MetaAutoEncoder.fit(tokens, model=vlm, views=2, grid=(12, 16))  # non-square views

`views` (int) and `grid` ((h, w) of one view, default square) are CodecConfig fields stored in the
codebook; the pyramid then has a per-view-means level and cells inside each view. The wire format
keeps token_shape [T, D].

Layers (default plan, CodecConfig/default_plan): 0 mean token (<= 256 B), 1 mean token again
(256 B), 2 coarse levels (512 B), 3 per-token detail (1 KiB), 4 everything (4 KiB); each budget
includes the 31-byte header (layer format version 2).

Temporal mode: `TemporalEncoder` / `TemporalDecoder` (temporal.py) are what nodes call:

    tx = TemporalEncoder(ae)                  # keyframe_interval=50, cut_threshold=0.4, history=32
    layers = tx.encode(tokens, seq)           # keyframe or change against the newest confirmed frame
    tx.confirm(seq)                           # a receipt shows the receiver holds seq's base layer
    tx.request_keyframe()                     # the receiver asked (it could not decode)
    rx = TemporalDecoder(ae)
    tokens = rx.decode(layers[:k])            # CodecError when the reference is not held: ask for a keyframe

A delta layer carries keyframe=False, ref_frame_seq and ref_layers (its reference is the decode of
that many layers of ref_frame_seq; 1 = the base layer). The lower-level form is
`encode(tokens, seq, reference=(ref_seq, ref_tokens), ref_layers=1)` and
`decode(layers, reference=(ref_seq, ref_tokens))`. Fidelity stays relative to the frame itself, so
it means the same in both modes.

Every failure on input (malformed, truncated, duplicated, out-of-order or foreign layers, CRC
mismatch, absurd shapes, wrong or missing reference, corrupt codebook) raises CodecError.
"""
from .autoencoder import MetaAutoEncoder
from .config import CodecConfig
from .default import DEFAULT_CODEBOOK, default_codec
from .errors import CodecError
from .layer_format import HEADER_SIZE, LayerHeader, read_header
from .temporal import TemporalDecoder, TemporalEncoder

__all__ = ["MetaAutoEncoder", "CodecConfig", "CodecError", "LayerHeader", "read_header", "HEADER_SIZE",
           "default_codec", "DEFAULT_CODEBOOK", "TemporalEncoder", "TemporalDecoder"]
