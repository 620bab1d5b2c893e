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

Temporal mode (optional): `encode(tokens, seq, reference=(ref_seq, ref_tokens))` codes the change
against ref_tokens, which must be what the receiver decoded for frame ref_seq (run
`decode(layers_the_receiver_confirmed)` on the sender to get them). The receiver calls
`decode(layers[:k], reference=(ref_seq, its_tokens_of_ref_seq))`. Layers carry keyframe=False and
ref_frame_seq. A keyframe is simply an encode without reference: the caller sends one every N
frames, on request, or when it has no confirmed reference. Fidelity stays relative to the frame
itself, so it means the same in both modes. `TemporalEncoder` / `TemporalDecoder` (temporal.py)
do this bookkeeping (keyframe interval, receipts, bounded history) for the two ends.

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
