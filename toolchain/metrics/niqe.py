"""NIQE (Mittal, Soundararajan, Bovik 2013), following the authors' MATLAB ``computequality.m``.

Pipeline (as the MATLAB reference and BasicSR's ``basicsr/metrics/niqe.py``):
1. grayscale as MATLAB ``rgb2gray`` on uint8 (rounded to integers), cropped to whole 96x96 blocks;
2. per scale: MSCN coefficients with the 7x7 Gaussian window (replicate padding), per-block AGGD
   features of the coefficients and of their products with 4 neighbours (18 per scale);
3. the second scale is MATLAB ``imresize(im, 0.5)`` (bicubic, antialiased) of the first, 48x48 blocks;
4. distance between the fitted multivariate Gaussian and the pristine one (Eq. 10).
"""

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage, special

from toolchain.errors import ToolchainError

BLOCK_SIZE = 96
_N_FEATURES = 36
_PARAMS_KEYS = ("mu_pris_param", "cov_pris_param", "gaussian_window")
_PARAMS_FIX = (
    "pass --niqe-params PATH to a niqe_pris_params.npz (keys mu_pris_param, cov_pris_param, gaussian_window)"
)
# MATLAB rgb2gray weights: first row of inv([1 0.956 0.621; 1 -0.272 -0.647; 1 -1.106 1.703]).
_GRAY_WEIGHTS = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])
# AGGD shape grid of the reference: alpha in 0.2:0.001:10 and its moment ratio r(alpha).
_GAM = np.arange(0.2, 10.001, 0.001)
_R_GAM = special.gamma(2 / _GAM) ** 2 / (special.gamma(1 / _GAM) * special.gamma(3 / _GAM))
# Neighbour shifts (rows, cols): horizontal, vertical, main and secondary diagonal; MATLAB's
# (-1, 1) for the last gives the same products as (1, -1) under the circular shift.
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))


@dataclass(frozen=True, eq=False)
class NiqeParams:
    """Pristine NIQE model: MVG mean (36,), covariance (36, 36) and the 7x7 Gaussian window."""

    mu_pris_param: np.ndarray
    cov_pris_param: np.ndarray
    gaussian_window: np.ndarray


def load_niqe_params(path: Path) -> NiqeParams:
    """Read a ``niqe_pris_params.npz`` (mu_pris_param 1x36, cov_pris_param 36x36,
    gaussian_window 7x7); raise ToolchainError if it is missing, unreadable or malformed."""
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ToolchainError(f"NIQE params file {path} not found; {_PARAMS_FIX}") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ToolchainError(f"NIQE params file {path} is not a readable .npz; {_PARAMS_FIX}") from exc
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise ToolchainError(f"NIQE params file {path} is not an .npz archive; {_PARAMS_FIX}")
    with data:
        missing = [key for key in _PARAMS_KEYS if key not in data.files]
        if missing:
            raise ToolchainError(f"NIQE params file {path} lacks {', '.join(missing)}; {_PARAMS_FIX}")
        try:
            mu, cov, window = (np.asarray(data[key], dtype=np.float64) for key in _PARAMS_KEYS)
        except (ValueError, TypeError) as exc:
            raise ToolchainError(f"NIQE params file {path} holds non-numeric arrays; {_PARAMS_FIX}") from exc
    mu = mu.reshape(-1)
    if mu.shape != (_N_FEATURES,) or cov.shape != (_N_FEATURES, _N_FEATURES) or window.ndim != 2:
        raise ToolchainError(
            f"NIQE params file {path} has shapes mu {mu.shape}, cov {cov.shape}, window "
            f"{window.shape} instead of (36,), (36, 36), 2-D; {_PARAMS_FIX}"
        )
    return NiqeParams(mu_pris_param=mu, cov_pris_param=cov, gaussian_window=window)


def _to_gray(img: np.ndarray) -> np.ndarray:
    """HxWx3 RGB or HxW gray uint8 -> HxW float64 gray in [0, 255], as MATLAB uint8 rgb2gray."""
    if img.dtype != np.uint8 or not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ToolchainError(f"NIQE needs an HxWx3 RGB or HxW gray uint8 image, got {img.dtype} {img.shape}")
    if img.ndim == 2:
        return img.astype(np.float64)
    return np.floor(img.astype(np.float64) @ _GRAY_WEIGHTS + 0.5)  # MATLAB rounds half up


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic kernel (a = -0.5) used by MATLAB imresize."""
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    near = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


def _resize_matrix(in_len: int, scale: float) -> np.ndarray:
    """(ceil(in_len*scale), in_len) weights of MATLAB bicubic imresize for 0 < scale <= 1:
    antialiased kernel scale*cubic(scale*x), symmetric boundary, as its ``contributions``."""
    out_len = int(np.ceil(in_len * scale))
    width = 4.0 / scale
    u = np.arange(1, out_len + 1) / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    indices = left[:, None] + np.arange(int(np.ceil(width)) + 2)[None, :]
    weights = scale * _cubic(scale * (u[:, None] - indices))
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    columns = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_len)]
    rows = np.broadcast_to(np.arange(out_len)[:, None], columns.shape)
    matrix = np.zeros((out_len, in_len))
    np.add.at(matrix, (rows, columns), weights)
    return matrix


def _imresize(img: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(img, scale)`` (bicubic, antialiased, 0 < scale <= 1) of an HxW
    float64 image: rows first, then columns; not rounded."""
    rows = _resize_matrix(img.shape[0], scale)
    cols = _resize_matrix(img.shape[1], scale)
    return (rows @ img) @ cols.T


def _mscn(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Mean-subtracted contrast-normalized coefficients (Eq. 1) of an HxW image, same shape."""
    mu = ndimage.correlate(img, window, mode="nearest")
    sigma = np.sqrt(np.abs(ndimage.correlate(img * img, window, mode="nearest") - mu * mu))
    return (img - mu) / (sigma + 1)


def _aggd_params(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AGGD fit per row of x (n, N): alpha, beta_l, beta_r, each (n,); NaN where a side is empty."""
    neg, pos = x < 0, x > 0
    sq = x * x
    with np.errstate(invalid="ignore", divide="ignore"):
        left_std = np.sqrt((sq * neg).sum(axis=1) / neg.sum(axis=1))
        right_std = np.sqrt((sq * pos).sum(axis=1) / pos.sum(axis=1))
        gammahat = left_std / right_std
        rhat = np.mean(np.abs(x), axis=1) ** 2 / np.mean(sq, axis=1)
        rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    alpha = _GAM[np.argmin((_R_GAM[None, :] - rhatnorm[:, None]) ** 2, axis=1)]
    ratio = np.sqrt(special.gamma(1 / alpha) / special.gamma(3 / alpha))
    return alpha, left_std * ratio, right_std * ratio


def _block_features(mscn: np.ndarray, block: int) -> np.ndarray:
    """18 features per non-overlapping ``block``x``block`` tile of an HxW MSCN map: (n_blocks, 18)."""
    nh, nw = mscn.shape[0] // block, mscn.shape[1] // block
    tiles = mscn[: nh * block, : nw * block].reshape(nh, block, nw, block).transpose(0, 2, 1, 3)
    tiles = tiles.reshape(nh * nw, block, block)
    flat = tiles.reshape(nh * nw, -1)
    alpha, beta_l, beta_r = _aggd_params(flat)
    features = [alpha, (beta_l + beta_r) / 2]
    for shift in _SHIFTS:
        pair = flat * np.roll(tiles, shift, axis=(1, 2)).reshape(nh * nw, -1)
        alpha, beta_l, beta_r = _aggd_params(pair)
        mean = (beta_r - beta_l) * special.gamma(2 / alpha) / special.gamma(1 / alpha)
        features += [alpha, mean, beta_l, beta_r]
    return np.stack(features, axis=1)


def niqe(img: np.ndarray, params: NiqeParams) -> float:
    """NIQE score of one image (lower is more natural), as the MATLAB reference.

    NaN when fewer than two blocks give finite features (too small, or flat like a constant
    image), since the covariance of the image's features is then undefined.

    Args:
        img: HxWx3 RGB or HxW gray, uint8 in [0, 255]; at least 96x96.
        params: pristine model from :func:`load_niqe_params`.
    """
    gray = _to_gray(img)
    nh, nw = gray.shape[0] // BLOCK_SIZE, gray.shape[1] // BLOCK_SIZE
    if nh == 0 or nw == 0:
        raise ToolchainError(f"NIQE needs an image of at least {BLOCK_SIZE}x{BLOCK_SIZE}, got {img.shape}")
    gray = gray[: nh * BLOCK_SIZE, : nw * BLOCK_SIZE]
    scale1 = _block_features(_mscn(gray, params.gaussian_window), BLOCK_SIZE)
    half = _imresize(gray, 0.5)
    scale2 = _block_features(_mscn(half, params.gaussian_window), BLOCK_SIZE // 2)
    features = np.concatenate([scale1, scale2], axis=1)

    complete = features[~np.isnan(features).any(axis=1)]
    if len(complete) < 2:
        return float("nan")
    mu_dist = np.nanmean(features, axis=0)
    cov_dist = np.cov(complete, rowvar=False)
    diff = params.mu_pris_param - mu_dist
    inv_cov = np.linalg.pinv((params.cov_pris_param + cov_dist) / 2)
    return float(np.sqrt(diff @ inv_cov @ diff))
