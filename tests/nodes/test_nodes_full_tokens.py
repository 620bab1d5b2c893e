"""full_tokens baseline: the edge sends the encoder's tokens as fp16 chunks, the cloud answers from
exactly those tokens, only from whole frames, and pulls chunks that got lost."""
import numpy as np
import pytest
from node_harness import Graph, camera_frames, wait_for
from node_pipelines import real_pipeline

from prosem_core import token_chunks
from prosem_core.assembly import Assembler, AssemblyConfig, LayerIn

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def pipeline():
    return real_pipeline()


@pytest.fixture(scope="module")
def frames():
    return camera_frames(3)


def test_full_tokens_answers_from_the_exact_fp16_tokens(pipeline, frames):
    with Graph(pipeline, edge={"mode": "full_tokens", "stream_id": "robot1"}, cloud={"mode": "full_tokens"}) as g:
        def a_whole_frame():
            stream = g.cloud.assembler.streams.get("robot1")
            return stream is not None and any(f.complete for f in stream.frames.values())

        assert g.feed_until(frames, a_whole_frame)
        resp = g.query()
        assert resp.success, resp.error
        frame = g.cloud.assembler.streams["robot1"].frames[resp.frame_seq]
        tokens, k = g.cloud.assembler.tokens(frame)
        assert k == frame.layer_count >= 2  # more than one message per frame
        assert all(len(c) < 64 << 10 for c in frame.layers)
        # The tokens are the edge encoder's output for one of the camera frames, to fp16 precision.
        exact = [pipeline.encoder.encode(f).astype(np.float16).astype(np.float32) for f in frames]
        assert any(np.array_equal(tokens, e) for e in exact)
        assert resp.answer == pipeline.answerer.answer(tokens, "what shape is in the image?").text
        t, d = tokens.shape
        assert resp.bytes_used == t * d * 2 + k * token_chunks.HEADER_SIZE
        assert resp.fidelity == 1.0 and resp.layers_used == k
        assert g.edge.all_counters()["bytes_sent"] >= t * d * 2
        assert wait_for(lambda: g.edge.link_state is not None, 5.0)
        assert g.edge.link_state.mode == "full_tokens"


def _chunk_in(chunk: bytes, seq: int) -> LayerIn:
    h = token_chunks.read_chunk_header(chunk)
    return LayerIn("robot1", 1, seq, h.layer_index, h.layer_count, token_chunks.FP16_CODEBOOK_ID, chunk)


def test_chunks_through_the_assembler_only_a_whole_frame_decodes():
    rng = np.random.default_rng(3)
    tokens = rng.standard_normal((49, 1280)).astype(np.float32)
    chunks = token_chunks.split_tokens(tokens, 5)
    assert len(chunks) >= 2 and sum(len(c) for c in chunks) == 49 * 1280 * 2 + len(chunks) * token_chunks.HEADER_SIZE
    asm = Assembler(AssemblyConfig(codebook_id=token_chunks.FP16_CODEBOOK_ID), token_chunks.read_chunk_header,
                    token_chunks.join_chunks)
    for i, c in enumerate(chunks):
        if i != 2:  # chunk 2 lost
            assert asm.add(_chunk_in(c, 5)).accepted
    frame = asm.streams["robot1"].frames[5]
    assert not frame.complete and frame.fidelity < 0  # a partial frame meets no min_fidelity
    assert asm.layers_needed(frame, 0.0) == len(chunks)  # pull the rest
    with pytest.raises(token_chunks.ChunkError, match="whole frame"):
        asm.tokens(frame)
    assert asm.add(_chunk_in(chunks[2], 5)).accepted  # the pulled chunk
    assert asm.add(_chunk_in(chunks[2], 5)).status == "duplicate"
    out, k = asm.tokens(frame)
    assert k == len(chunks) and frame.fidelity == 1.0
    assert np.array_equal(out, tokens.astype(np.float16).astype(np.float32))


@pytest.mark.parametrize("damage", ["truncate", "magic", "row", "count"])
def test_bad_chunks_are_rejected_as_malformed(damage):
    chunks = token_chunks.split_tokens(np.ones((49, 64), np.float32), 1, max_chunk_bytes=2048)
    c = bytearray(chunks[1])
    if damage == "truncate":
        c = c[:-3]
    elif damage == "magic":
        c[0:4] = b"XXXX"
    elif damage == "row":
        c[token_chunks.HEADER_SIZE - 2] ^= 1  # first row
    else:
        c[10] = 0  # chunk count 0
    asm = Assembler(AssemblyConfig(codebook_id=token_chunks.FP16_CODEBOOK_ID), token_chunks.read_chunk_header,
                    token_chunks.join_chunks)
    result = asm.add(LayerIn("robot1", 1, 1, 1, len(chunks), token_chunks.FP16_CODEBOOK_ID, bytes(c)))
    assert result.status in ("malformed", "inconsistent")
    with pytest.raises(token_chunks.ChunkError):
        token_chunks.split_tokens(np.ones((3,), np.float32), 1)
