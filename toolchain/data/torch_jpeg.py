"""A batched JPEG round trip in torch (baseline, 4:2:0), for degradations on the training device.

It does what Pillow's libjpeg-turbo does with ``quality=q, subsampling="4:2:0"`` and its default
decoder, step by step in the same integer arithmetic, so its output equals Pillow's bit for bit
(tests/test_degradations.py checks it):

1. RGB -> YCbCr with libjpeg's 16-bit fixed-point coefficients and rounding (jccolor.c).
2. Edges replicated to whole 16 x 16 MCUs; chroma averaged over 2 x 2 with libjpeg's alternating
   1, 2 rounding bias (jcsample.c ``h2v2_downsample``).
3. The "ISLOW" integer DCT (jfdctint.c), quantized with the standard (Annex K) luma / chroma
   tables scaled by ``jpeg_quality_scaling`` (jcparam.c, baseline: entries clamped to 1..255),
   rounded half away from zero (jcdctmgr.c).
4. Dequantize, the ISLOW inverse DCT (jidctint.c), +128, clamp to 0..255.
5. Chroma back to full size with libjpeg's "fancy" triangle filter and its rounding (jdsample.c
   ``h2v2_fancy_upsample``; repeated when it is at most 2 wide), then YCbCr -> RGB with
   jdcolor.c's fixed-point tables.

Entropy coding is lossless and skipped. Every step is a batched int32 tensor operation on the
input's device (int32 holds every ISLOW intermediate for 8-bit samples); ``quality`` is per
sample. On a CPU Pillow is faster (2 to 4x on a batch of 32 x 128 px), so the CPU degradation
keeps it; on a GPU this saves the copy to the host and back and the per-sample loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_LUMA_TABLE = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
_CHROMA_TABLE = (
    (17, 18, 24, 47, 99, 99, 99, 99),
    (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99),
    (47, 66, 99, 99, 99, 99, 99, 99),
    *((99,) * 8,) * 4,
)
_SCALEBITS = 16
_ONE_HALF = 1 << (_SCALEBITS - 1)
_CBCR_OFFSET = 128 << _SCALEBITS


def _fix(x: float) -> int:
    """libjpeg's FIX(x): x in 16-bit fixed point."""
    return int(x * (1 << _SCALEBITS) + 0.5)


def quant_tables(quality: torch.Tensor) -> torch.Tensor:
    """(B,) integer qualities -> (B, 2, 64) luma and chroma tables, natural order (jcparam.c).

    Quality is clamped to 1..100 as libjpeg does (Pillow's 0 thus means 1).
    """
    q = quality.to(torch.int32).clamp(1, 100)
    scale = torch.where(q < 50, 5000 // q, 200 - 2 * q)  # jpeg_quality_scaling
    basic = torch.tensor((_LUMA_TABLE, _CHROMA_TABLE), dtype=torch.int32, device=q.device).view(1, 2, 64)
    return ((basic * scale.view(-1, 1, 1) + 50) // 100).clamp(1, 255)


def _rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) int32 0..255 -> YCbCr int32 0..255 (jccolor.c ``rgb_ycc_convert``)."""
    r, g, b = rgb.unbind(1)
    y = (_fix(0.29900) * r + _fix(0.58700) * g + _fix(0.11400) * b + _ONE_HALF) >> _SCALEBITS
    cb = (-_fix(0.16874) * r - _fix(0.33126) * g + _fix(0.5) * b + _CBCR_OFFSET + _ONE_HALF - 1) >> _SCALEBITS
    cr = (_fix(0.5) * r - _fix(0.41869) * g - _fix(0.08131) * b + _CBCR_OFFSET + _ONE_HALF - 1) >> _SCALEBITS
    return torch.stack([y, cb, cr], 1)


def _ycbcr_to_rgb(y: torch.Tensor, cb: torch.Tensor, cr: torch.Tensor) -> torch.Tensor:
    """(B, H, W) int32 planes -> (B, 3, H, W) RGB 0..255 (jdcolor.c ``ycc_rgb_convert``)."""
    cb, cr = cb - 128, cr - 128
    r = y + ((_fix(1.40200) * cr + _ONE_HALF) >> _SCALEBITS)
    g = y + ((-_fix(0.34414) * cb + _ONE_HALF - _fix(0.71414) * cr) >> _SCALEBITS)
    b = y + ((_fix(1.77200) * cb + _ONE_HALF) >> _SCALEBITS)
    return torch.stack([r, g, b], 1).clamp(0, 255)


def _pad(planes: torch.Tensor, right: int, bottom: int) -> torch.Tensor:
    """(B, C, H, W) int32 with the last column / row repeated ``right`` / ``bottom`` times."""
    # replicate padding is implemented for float tensors; the values stay integers
    return F.pad(planes.float(), (0, right, 0, bottom), mode="replicate").int()


def _downsample_h2v2(plane: torch.Tensor) -> torch.Tensor:
    """(B, H, W) int32, H and W even -> (B, H/2, W/2): 2 x 2 sums + bias 1, 2, 1, 2, ..., >> 2."""
    b, h, w = plane.shape
    sums = plane.view(b, h // 2, 2, w // 2, 2).sum((2, 4))
    bias = 1 + torch.arange(w // 2, device=plane.device) % 2
    return (sums + bias) >> 2


def _upsample_h2v2(plane: torch.Tensor) -> torch.Tensor:
    """(B, h, w) int32 -> (B, 2h, 2w) with libjpeg's triangle filter (3/4 nearer, 1/4 farther).

    Edges are replicated, which is what jdsample.c's first/last column cases and jdmainct.c's
    context rows amount to. Planes 1 or 2 samples wide are only repeated, as jdsample.c does
    (its "fancy" filter needs 3 columns).
    """
    if plane.shape[-1] <= 2:
        return plane.repeat_interleave(2, -2).repeat_interleave(2, -1)
    p = F.pad(plane[:, None].float(), (0, 0, 1, 1), mode="replicate")[:, 0].int()
    near = p[:, 1:-1]
    # vertical: output row 2i takes row i-1 as the farther one, row 2i+1 takes row i+1
    cols = torch.stack([3 * near + p[:, :-2], 3 * near + p[:, 2:]], 2).flatten(1, 2)
    c = F.pad(cols[:, None].float(), (1, 1, 0, 0), mode="replicate")[:, 0].int()
    mid = c[:, :, 1:-1]
    even = (3 * mid + c[:, :, :-2] + 8) >> 4
    odd = (3 * mid + c[:, :, 2:] + 7) >> 4
    return torch.stack([even, odd], 3).flatten(2, 3)


# libjpeg's "ISLOW" integer DCT (Loeffler, Ligtenberg and Moschytz): 13-bit constants, two passes
_CONST_BITS = 13
_PASS1_BITS = 2
_C = {  # round(x * 2**13) of each rotation factor of the LL&M flow graph
    "0.298631336": 2446, "0.390180644": 3196, "0.541196100": 4433, "0.765366865": 6270,
    "0.899976223": 7373, "1.175875602": 9633, "1.501321110": 12299, "1.847759065": 15137,
    "1.961570560": 16069, "2.053119869": 16819, "2.562915447": 20995, "3.072711026": 25172,
}  # fmt: skip


def _descale(x: torch.Tensor, n: int) -> torch.Tensor:
    """x / 2**n rounded half up (libjpeg's DESCALE)."""
    return (x + (1 << (n - 1))) >> n


def _odd_part(i0: torch.Tensor, i1: torch.Tensor, i2: torch.Tensor, i3: torch.Tensor) -> list[torch.Tensor]:
    """The shared odd-part rotation of the LL&M flow graph (forward and inverse); 4 scaled outputs."""
    z5 = (i0 + i1 + i2 + i3) * _C["1.175875602"]
    z1 = (i0 + i3) * -_C["0.899976223"]
    z2 = (i1 + i2) * -_C["2.562915447"]
    z3 = (i0 + i2) * -_C["1.961570560"] + z5
    z4 = (i1 + i3) * -_C["0.390180644"] + z5
    return [
        i0 * _C["0.298631336"] + z1 + z3,
        i1 * _C["2.053119869"] + z2 + z4,
        i2 * _C["3.072711026"] + z2 + z3,
        i3 * _C["1.501321110"] + z1 + z4,
    ]


def _fdct_1d(x: torch.Tensor, dim: int, first_pass: bool) -> torch.Tensor:
    """One ISLOW forward pass along ``dim`` (size 8) of an int32 tensor (jfdctint.c)."""
    d = x.unbind(dim)
    s = [d[i] + d[7 - i] for i in range(4)]  # tmp0..tmp3
    t = [d[3 - i] - d[4 + i] for i in range(4)]  # tmp4..tmp7, as i0..i3 of the odd part
    tmp10, tmp13, tmp11, tmp12 = s[0] + s[3], s[0] - s[3], s[1] + s[2], s[1] - s[2]
    shift = _CONST_BITS - _PASS1_BITS if first_pass else _CONST_BITS + _PASS1_BITS
    if first_pass:
        out0, out4 = (tmp10 + tmp11) << _PASS1_BITS, (tmp10 - tmp11) << _PASS1_BITS
    else:
        out0, out4 = _descale(tmp10 + tmp11, _PASS1_BITS), _descale(tmp10 - tmp11, _PASS1_BITS)
    z1 = (tmp12 + tmp13) * _C["0.541196100"]
    out2 = _descale(z1 + tmp13 * _C["0.765366865"], shift)
    out6 = _descale(z1 - tmp12 * _C["1.847759065"], shift)
    out7, out5, out3, out1 = (_descale(v, shift) for v in _odd_part(t[0], t[1], t[2], t[3]))
    return torch.stack([out0, out1, out2, out3, out4, out5, out6, out7], dim)


def _idct_1d(y: torch.Tensor, dim: int, first_pass: bool) -> torch.Tensor:
    """One ISLOW inverse pass along ``dim`` (size 8) of an int32 tensor (jidctint.c)."""
    c = y.unbind(dim)
    z1 = (c[2] + c[6]) * _C["0.541196100"]
    tmp2 = z1 - c[6] * _C["1.847759065"]
    tmp3 = z1 + c[2] * _C["0.765366865"]
    tmp0, tmp1 = (c[0] + c[4]) << _CONST_BITS, (c[0] - c[4]) << _CONST_BITS
    even = [tmp0 + tmp3, tmp1 + tmp2, tmp1 - tmp2, tmp0 - tmp3]  # tmp10, tmp11, tmp12, tmp13
    odd = _odd_part(c[7], c[5], c[3], c[1])[::-1]  # pairs with even[0..3]
    shift = _CONST_BITS - _PASS1_BITS if first_pass else _CONST_BITS + _PASS1_BITS + 3
    out = [_descale(even[i] + odd[i], shift) for i in range(4)]
    out += [_descale(even[3 - i] - odd[3 - i], shift) for i in range(4)]
    return torch.stack(out, dim)


def _quantize(coef: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """ISLOW coefficients (scaled by 8) over 8 x table, rounded half away from zero (jcdctmgr.c).

    libjpeg-turbo divides with a reciprocal multiply; for 8-bit samples that equals this
    division for every coefficient and table entry (checked exhaustively in the tests).
    """
    magnitude = (coef.abs() + 4 * table) // (8 * table)
    return torch.where(coef < 0, -magnitude, magnitude)


def _blocks(plane: torch.Tensor) -> torch.Tensor:
    """(B, H, W) -> (8, 8, B * H/8 * W/8): the 8 x 8 blocks, block index last (contiguous passes)."""
    b, h, w = plane.shape
    return plane.reshape(b, h // 8, 8, w // 8, 8).permute(2, 4, 0, 1, 3).reshape(8, 8, -1)


def _unblocks(blocks: torch.Tensor, b: int, h: int, w: int) -> torch.Tensor:
    return blocks.reshape(8, 8, b, h // 8, w // 8).permute(2, 3, 0, 4, 1).reshape(b, h, w)


def _steps_per_block(table: torch.Tensor, blocks_per_sample: int) -> torch.Tensor:
    """(B, 64) quantization steps -> (8, 8, B * blocks_per_sample), laid out as :func:`_blocks`."""
    return table.T.reshape(8, 8, -1, 1).expand(-1, -1, -1, blocks_per_sample).reshape(8, 8, -1)


def _code_planes(planes: list[torch.Tensor], tables: list[torch.Tensor]) -> list[torch.Tensor]:
    """Level shift, FDCT, quantize, dequantize, IDCT, +128 and clamp (B, H, W) int32 planes.

    All blocks of all planes go through each step together; ``tables``: one (B, 64) table of
    quantization steps (row-major) per plane.
    """
    blocks = torch.cat([_blocks(p) for p in planes], -1)
    steps = torch.cat(
        [_steps_per_block(t, p.shape[-2] * p.shape[-1] // 64) for p, t in zip(planes, tables, strict=True)],
        -1,
    )
    coef = _fdct_1d(_fdct_1d(blocks - 128, 1, True), 0, False)
    pixels = _idct_1d(_idct_1d(_quantize(coef, steps) * steps, 0, True), 1, False) + 128
    out, start = [], 0
    for p in planes:
        b, h, w = p.shape
        n = b * h * w // 64
        out.append(_unblocks(pixels[..., start : start + n], b, h, w).clamp(0, 255))
        start += n
    return out


def jpeg_round_trip(img: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """Encode and decode each sample as a 4:2:0 baseline JPEG of its own quality.

    Args:
        img: (B, 3, H, W) float; clamped to [0, 1] and rounded to 8 bits first (as ``jpeg``).
        quality: (B,) integer qualities 1..100 (Pillow's scale), on any device.

    Returns:
        (B, 3, H, W), img's dtype and device, multiples of 1/255 in [0, 1].
    """
    b, _, h, w = img.shape
    rgb = (img.detach().clamp(0, 1) * 255.0).round().int()
    mcu_h, mcu_w = -(-h // 16) * 16, -(-w // 16) * 16
    # jcprepct.c / jcsample.c: columns replicated to whole MCUs and rows to an even count before
    # the chroma is downsampled; then each plane's last row replicated to whole MCUs.
    ycc = _pad(_rgb_to_ycbcr(rgb), mcu_w - w, h % 2)
    y, cb, cr = ycc.unbind(1)
    y = _pad(y[:, None], 0, mcu_h - y.shape[-2])[:, 0]
    cb, cr = (_pad(_downsample_h2v2(c)[:, None], 0, (mcu_h - h - h % 2) // 2)[:, 0] for c in (cb, cr))
    tables = quant_tables(quality.to(img.device))
    y, cb, cr = _code_planes([y, cb, cr], [tables[:, 0], tables[:, 1], tables[:, 1]])
    ch, cw = -(-h // 2), -(-w // 2)  # the decoder upsamples from the real chroma size, not the MCUs
    cb, cr = (_upsample_h2v2(c[:, :ch, :cw])[:, :h, :w] for c in (cb, cr))
    rgb = _ycbcr_to_rgb(y[:, :h, :w], cb, cr)
    return rgb.to(img.dtype) / 255.0
