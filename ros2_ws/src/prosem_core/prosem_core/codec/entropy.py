"""Entropy coding of quantized coefficients, vectorized with numpy (no per-symbol Python loop).

Coefficients arrive in scan order, cut into bands of similar statistics (the codec orders channels
by calibration variance, so later bands are sparser). Each band is coded in one of two modes:
  sparse  for every non-zero: the gap (zeros skipped since the previous non-zero of the band) and
          the magnitude minus one, both Golomb-Rice coded, plus one sign bit;
  dense   (more than a third non-zero) every coefficient as a zigzag value (2|v| - [v<0]), Rice coded.
Rice parameters are chosen per band and per frame from the mean of the values.

Rice codes are split into separate streams so that decoding needs no sequential parse:
    unary stream     quotients u >> k as ones closed by a zero (at most ESCAPE ones)
    remainder stream the low k bits of every non-escaped symbol (MSB first)
    sign stream      one bit per non-zero of the sparse bands
    escapes          uint32 values of symbols whose quotient reached ESCAPE
Symbol order: gaps of the sparse bands, their magnitudes, then the dense bands' values. Decoding is
"find the first N zeros" in the unary stream plus fixed-width gathers.

Side information: a varint n = 1 + the last band with a non-zero (0: all zero), then for bands
0..n-1 a varint 2 * nonzeros + dense (bands after them are empty: a fine layer or a small change
often leaves most of its sparse tail empty, and a byte per empty band was a tenth of a delta base
layer); per non-empty band one parameter byte (sparse: k_gap << 4 | k_mag; dense: k).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import CodecError

ESCAPE = 20  # quotients >= ESCAPE are sent raw as uint32
MAX_K = 15
MAX_VALUE = 1 << 24  # larger quantized values are absurd for this codec


def _varints(values: np.ndarray) -> bytes:
    out = bytearray()
    for n in values.tolist():
        while n >= 0x80:
            out.append((n & 0x7F) | 0x80)
            n >>= 7
        out.append(n)
    return bytes(out)


def _read_varints(buf: bytes, count: int) -> tuple[list[int], int]:
    values, pos = [], 0
    for _ in range(count):
        value, shift = 0, 0
        while True:
            if pos >= len(buf):
                raise CodecError("payload truncated inside a varint")
            byte = buf[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 28:
                raise CodecError("varint too long")
        values.append(value)
    return values, pos


def _rice_k(u: np.ndarray, label: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per label (band of one symbol kind), k = round(log2(mean * ln 2)): within a few hundredths of
    a bit per symbol of the best Rice parameter for geometric data."""
    sums = np.bincount(label, weights=u, minlength=counts.size)
    mean = sums / np.maximum(counts, 1)
    return np.clip(np.round(np.log2(np.maximum(mean, 1e-9) * 0.6931)), 0, MAX_K).astype(np.int64)


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s + n) for every (s, n)."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return np.arange(total, dtype=np.int64) + offsets


# Row k: bytes whose bits are the first k of 8 (16) bit columns, set; unpacked per symbol they are
# the mask of its valid remainder bits (np.take + unpackbits: far cheaper than building a
# [symbols, width] comparison or boolean matrix).
_FIRST_OF_8 = np.packbits(np.arange(8)[None, :] < np.arange(9)[:, None], axis=1)  # [9, 1]
_FIRST_OF_16 = np.packbits(np.arange(16)[None, :] < np.arange(17)[:, None], axis=1)  # [17, 2]


def _remainder_bits(values: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Bits (uint8 0/1) of every value's low `width` bits, MSB first, concatenated (widths <= 15,
    values < 2**width): each value left-aligned in a byte (or a big-endian uint16 if some width
    exceeds 8), unpacked, and the valid leading bits of each symbol kept."""
    if widths.max() <= 8:
        aligned = (values << (8 - widths)).astype(np.uint8)
        table = _FIRST_OF_8
    else:
        aligned = (values << (16 - widths)).astype(">u2").view(np.uint8)
        table = _FIRST_OF_16
    mask = np.unpackbits(np.take(table, widths, axis=0).reshape(-1)).view(bool)
    return np.compress(mask, np.unpackbits(aligned))


@dataclass
class BandPlan:
    """Symbols and Rice parameters of one payload, before any bit is packed: its exact size is
    known here, so a caller searching for a step that fits a byte budget packs only once."""

    side: bytes              # band words and Rice parameters
    u: np.ndarray            # symbols: sparse gaps, sparse magnitudes - 1, dense zigzag values
    k: np.ndarray            # Rice parameter of each symbol (0 for escaped ones)
    esc: np.ndarray          # symbols sent raw as uint32
    ends: np.ndarray         # cumulative unary code lengths
    negative: np.ndarray     # sign bits (uint8) of the sparse non-zeros
    size: int                # bytes of the payload

    def emit(self) -> bytes:
        if not self.u.size:
            return self.side
        unary = np.ones(int(self.ends[-1]), np.uint8)
        unary[self.ends - 1] = 0
        rem = _remainder_bits(self.u & ((1 << self.k) - 1), self.k)  # k = 0 for escaped symbols
        out = self.side + np.packbits(np.concatenate([unary, rem, self.negative])).tobytes()
        return out + self.u[self.esc].astype("<u4").tobytes() if self.esc.any() else out


def encode_bands(q: np.ndarray, edges: np.ndarray) -> bytes:
    """q: integer 1-D quantized values in scan order; edges: band boundaries [0, ..., len(q)]."""
    return plan_bands(q, edges).emit()


def plan_bands(q: np.ndarray, edges: np.ndarray) -> BandPlan:
    """Everything of encode_bands but the bit packing (see BandPlan)."""
    nbands = len(edges) - 1
    lens = np.diff(edges)
    nz = np.flatnonzero(q != 0)  # (faster than flatnonzero on the int64 values)
    band = np.searchsorted(edges, nz, side="right") - 1
    counts = np.bincount(band, minlength=nbands)
    dense = counts * 3 > lens
    words = 2 * counts + dense
    used = int(np.flatnonzero(counts)[-1]) + 1 if nz.size else 0
    side = _varints(np.concatenate([[used], words[:used]]).astype(np.int64))
    if nz.size == 0:
        none = np.zeros(0, np.int64)
        return BandPlan(side, none, none, none.astype(bool), none, none.astype(np.uint8), len(side))
    q = q.astype(np.int64, copy=False)
    if np.abs(q[nz]).max() >= MAX_VALUE // 2:
        raise CodecError("quantized value out of range (step too small for these tokens)")
    sparse_nz = ~dense[band]
    nz_s, band_s = nz[sparse_nz], band[sparse_nz]
    first = np.ones(nz_s.size, bool)
    first[1:] = band_s[1:] != band_s[:-1]
    prev = np.empty_like(nz_s)
    if nz_s.size:
        prev[0] = -1
        prev[1:] = nz_s[:-1]
    gaps = nz_s - np.where(first, edges[band_s] - 1, prev) - 1
    vals_s = q[nz_s]
    mags = np.abs(vals_s) - 1
    dense_bands = np.flatnonzero(dense)
    idx_d = _ranges(edges[dense_bands], lens[dense_bands])
    band_d = np.repeat(dense_bands, lens[dense_bands])
    vd = q[idx_d]
    zz = 2 * np.abs(vd) - (vd < 0)
    # one bincount for the three symbol kinds: labels band (gaps), nbands + band (magnitudes),
    # 2 nbands + band (dense values)
    sparse_counts = np.where(dense, 0, counts)
    u = np.concatenate([gaps, mags, zz])
    label = np.concatenate([band_s, band_s + nbands, band_d + 2 * nbands])
    kall = _rice_k(u, label, np.concatenate([sparse_counts, sparse_counts, np.where(dense, lens, 0)]))
    kg, km, kz = kall[:nbands], kall[nbands:2 * nbands], kall[2 * nbands:]
    live = counts > 0
    side += np.where(dense, kz, kg << 4 | km)[live].astype(np.uint8).tobytes()
    k = kall[label]
    quo = u >> k
    esc = quo >= ESCAPE
    n_esc = int(np.count_nonzero(esc))
    if n_esc:
        k = np.where(esc, 0, k)
    ends = np.cumsum(np.minimum(quo, ESCAPE) + 1)
    bits = int(ends[-1]) + int(k.sum()) + nz_s.size
    return BandPlan(side, u, k, esc, ends, (vals_s < 0).view(np.uint8),
                    len(side) + (bits + 7) // 8 + 4 * n_esc)


def decode_bands(buf: bytes, edges: np.ndarray) -> np.ndarray:
    """Inverse of encode_bands; the whole buffer must be consumed exactly."""
    nbands = len(edges) - 1
    lens = np.diff(edges)
    out = np.zeros(int(edges[-1]), np.int64)
    (used,), pos = _read_varints(buf, 1)
    if used > nbands:
        raise CodecError(f"payload names {used} bands, the layer has {nbands}")
    coded, more = _read_varints(buf[pos:], used)
    pos += more
    words = np.zeros(nbands, np.int64)
    words[:used] = coded
    if used and words[used - 1] >> 1 == 0:
        raise CodecError("band header: the last coded band is empty")
    counts, dense = words >> 1, (words & 1).astype(bool)
    if (counts > lens).any() or (dense & (counts * 3 <= lens)).any():
        raise CodecError("band header inconsistent with the band size")
    live = np.flatnonzero(counts)
    if live.size == 0:
        if pos != len(buf):
            raise CodecError("trailing bytes after the coefficient data")
        return out
    if pos + live.size > len(buf):
        raise CodecError("payload truncated in band parameters")
    params = np.zeros(nbands, np.int64)
    params[live] = np.frombuffer(buf, np.uint8, count=live.size, offset=pos)
    pos += live.size
    if (params[dense] > MAX_K).any():
        raise CodecError("invalid Rice parameter")
    sparse_counts = np.where(dense, 0, counts)
    n_s = int(sparse_counts.sum())
    band_s = np.repeat(np.arange(nbands), sparse_counts)
    dense_bands = np.flatnonzero(dense)
    band_d = np.repeat(dense_bands, lens[dense_bands])
    kg, km = params >> 4, params & 0x0F
    k = np.concatenate([kg[band_s], km[band_s], params[band_d]])
    nsym = k.size
    bits = np.unpackbits(np.frombuffer(buf, np.uint8, offset=pos))
    zeros = np.flatnonzero(bits == 0)
    if zeros.size < nsym:
        raise CodecError("payload truncated in the unary stream")
    ends = zeros[:nsym]
    quo = np.diff(ends, prepend=-1) - 1
    if (quo > ESCAPE).any():
        raise CodecError("unary code longer than the escape length")
    esc = quo == ESCAPE
    kr = np.where(esc, 0, k)
    rpos = int(ends[-1]) + 1
    rlen = int(kr.sum())
    used_bits = rpos + rlen + n_s
    if used_bits > bits.size:
        raise CodecError("payload truncated in the remainder/sign streams")
    u = quo << k
    if int(kr.max()):
        # Every remainder (k <= 15 bits at a bit offset <= 7 in its first byte) lies in a 3-byte
        # window: read the windows as big-endian 24-bit integers and cut the fields out (no
        # per-bit work; the stream's bytes are zero-padded so the last windows stay in range).
        raw = np.frombuffer(buf, np.uint8, offset=pos)
        padded = np.zeros(raw.size + 3, np.int64)
        padded[:raw.size] = raw
        start = rpos + np.cumsum(kr) - kr
        byte = start >> 3
        window = (padded[byte] << 16) | (padded[byte + 1] << 8) | padded[byte + 2]
        u += (window >> (24 - (start & 7) - kr)) & ((1 << kr) - 1)
    negative = bits[rpos + rlen:used_bits].astype(bool)
    nbytes = (used_bits + 7) // 8
    if bits[used_bits:nbytes * 8].any():
        raise CodecError("non-zero padding bits")
    n_esc = int(esc.sum())
    esc_start = pos + nbytes
    if len(buf) != esc_start + 4 * n_esc:
        raise CodecError("payload length does not match its coefficient data")
    if n_esc:
        ev = np.frombuffer(buf, "<u4", count=n_esc, offset=esc_start).astype(np.int64)
        if (ev >= MAX_VALUE).any() or ((ev >> k[esc]) < ESCAPE).any():
            raise CodecError("invalid escaped value")
        u[esc] = ev
    if n_s:
        gaps, mags = u[:n_s], u[n_s:2 * n_s]
        steps = gaps + 1
        csum = np.cumsum(steps)
        live_s = np.flatnonzero(sparse_counts)
        band_first = np.concatenate([[0], np.cumsum(sparse_counts[live_s])[:-1]])
        offsets = csum - np.repeat(csum[band_first] - steps[band_first], sparse_counts[live_s]) - 1
        if (offsets >= lens[band_s]).any():
            raise CodecError("coefficient position outside its band")
        vals = mags + 1
        out[edges[band_s] + offsets] = np.where(negative, -vals, vals)
    if dense_bands.size:
        zz = u[2 * n_s:]
        vals = np.where(zz & 1, -((zz + 1) >> 1), zz >> 1)
        idx_d = _ranges(edges[dense_bands], lens[dense_bands])
        out[idx_d] = vals
        dense_lens = lens[dense_bands]
        nonzeros = np.add.reduceat(vals != 0, np.cumsum(dense_lens) - dense_lens, dtype=np.int64)
        if (nonzeros != counts[dense_bands]).any():
            raise CodecError("dense band non-zero count mismatch")
    return out
