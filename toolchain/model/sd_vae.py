"""Import a local Stable Diffusion v1.5 VAE into the HR encoder (and decoder, when it fits).

Nothing is downloaded: ``path`` is a local diffusers model folder, a diffusers pipeline
folder (``vae/`` inside), or one ``.safetensors`` file in diffusers or original LDM/CompVis
naming (optionally ``vae.`` / ``first_stage_model.`` prefixed, as in a full SD checkpoint).
Pickled ``.ckpt`` / ``.pt`` / ``.bin`` files are refused; convert them to safetensors first.

Source keys are renamed to diffusers' ``AutoencoderKL`` names (the names
``toolchain.model.autoencoder`` uses) by the few rules in ``_RULES``:

* LDM ``{encoder,decoder}.mid.block_{1,2}`` -> ``mid_block.resnets.{0,1}``,
  ``mid.attn_1.{norm,q,k,v,proj_out}`` -> ``mid_block.attentions.0.{group_norm,to_q,to_k,to_v,to_out.0}``
  (1x1 conv weights (C, C, 1, 1) become Linear (C, C)), ``nin_shortcut`` -> ``conv_shortcut``,
  ``norm_out`` -> ``conv_norm_out``,
  ``encoder.down.{i}.block.{j}`` -> ``encoder.down_blocks.{i}.resnets.{j}``,
  ``encoder.down.{i}.downsample`` -> ``encoder.down_blocks.{i}.downsamplers.0``, and
  ``decoder.up.{k}.{block.{j},upsample}`` -> ``decoder.up_blocks.{n-1-k}.{resnets.{j},upsamplers.0}``
  (LDM lists the decoder levels from the highest resolution, diffusers from the lowest);
* old diffusers attention names ``query``, ``key``, ``value``, ``proj_attn`` -> ``to_q``, ``to_k``,
  ``to_v``, ``to_out.0``.

The HR encoder (``encoder.*``, ``quant_conv.*``) must match exactly: every key present with
its shape and no leftover source encoder keys. The decoder (``post_quant_conv.*``,
``decoder.*``) is loaded only when it matches just as exactly; otherwise it keeps its own
weights and the result says why (the compact pixel-shuffle decoders never fit).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from toolchain.errors import ToolchainError
from toolchain.model.edge_sdsr import EdgeSDSR

DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
SD_PRESET_HINT = "use --preset edge, whose HR encoder has SD v1.5's layout"
# Prefixes tried in order; the first one under which VAE keys are found wins.
_PREFIXES = ("first_stage_model.", "vae.", "")
_ENCODER_ROOTS = ("encoder.", "quant_conv.")
_DECODER_ROOTS = ("decoder.", "post_quant_conv.")
_ATTN_PROJ = re.compile(r"\.attentions\.\d+\.(to_q|to_k|to_v|to_out\.0)\.weight$")
_LDM_UP = re.compile(r"^decoder\.up\.(\d+)\.")
_SHOWN = 3  # offending keys named in an error message


@dataclass(frozen=True)
class SDVaeImport:
    """What :func:`load_sd_vae` loaded, from which file."""

    source: Path
    encoder_loaded: bool
    decoder_loaded: bool
    reason_decoder_skipped: str | None

    def summary(self) -> str:
        parts = ["HR encoder" if self.encoder_loaded else None, "decoder" if self.decoder_loaded else None]
        text = f"loaded SD VAE {self.source} into the {' and '.join(p for p in parts if p)}"
        if self.reason_decoder_skipped:
            text += f"; decoder not loaded: {self.reason_decoder_skipped}"
        return text


def load_sd_vae(model: EdgeSDSR, path: Path) -> SDVaeImport:
    """Load a local SD v1.5 VAE into ``model.hr_encoder`` (strict) and ``model.decoder`` (if it fits).

    Raises :class:`ToolchainError` (one line) when the path is missing or unreadable, is a
    pickle, holds no VAE keys, or does not fit the HR encoder. Nothing is changed then.
    """
    path = Path(path)
    source = resolve_sd_vae_file(path)
    state = _read_safetensors(source)
    vae = sd_vae_to_diffusers(state, source)

    enc_state = _prepare(vae, _ENCODER_ROOTS, model.hr_encoder)
    problems = _mismatches(enc_state, model.hr_encoder)
    if problems:
        raise ToolchainError(
            f"SD VAE {source} does not fit the HR encoder of preset '{model.config.name}': "
            f"{problems}; {SD_PRESET_HINT}"
        )
    dec_state = _prepare(vae, _DECODER_ROOTS, model.decoder)
    dec_problems = _mismatches(dec_state, model.decoder)

    model.hr_encoder.load_state_dict(enc_state, strict=True)
    reason = None
    if dec_problems:
        cfg = model.config.decoder
        kind = "is compact" if cfg.upsample.value != "nearest" else "has another layout"
        reason = (
            f"the preset's decoder {kind} ({cfg.upsample.value}, block_channels {list(cfg.block_channels)}, "
            f"{cfg.layers_per_block} layers per block, {cfg.norm_groups} groups) and keeps its own weights "
            f"({dec_problems})"
        )
    else:
        model.decoder.load_state_dict(dec_state, strict=True)
    return SDVaeImport(
        source=source, encoder_loaded=True, decoder_loaded=reason is None, reason_decoder_skipped=reason
    )


def resolve_sd_vae_file(path: Path) -> Path:
    """The safetensors file behind ``path`` (a file, a diffusers VAE folder or a pipeline folder)."""
    path = Path(path)
    if not path.exists():
        raise ToolchainError(
            f"SD VAE {path} does not exist; pass a local diffusers VAE folder, a pipeline folder with "
            f"vae/, or a .safetensors file (nothing is downloaded)"
        )
    if path.is_dir():
        folders = (path, path / "vae")
        for folder in folders:
            if (folder / DIFFUSERS_WEIGHTS).is_file():
                return folder / DIFFUSERS_WEIGHTS
        for folder in folders:  # a variant such as diffusion_pytorch_model.fp16.safetensors
            variants = sorted(folder.glob("diffusion_pytorch_model.*.safetensors"))
            if variants:
                return variants[0]
        for folder in folders:
            pickles = sorted(p for p in folder.glob("diffusion_pytorch_model*") if _is_pickle(p))
            if pickles:
                _refuse_pickle(pickles[0])
        raise ToolchainError(
            f"no {DIFFUSERS_WEIGHTS} in {path} or {path / 'vae'}; pass a diffusers VAE folder, "
            f"a pipeline folder with vae/, or a .safetensors file"
        )
    if _is_pickle(path):
        _refuse_pickle(path)
    return path


def sd_vae_to_diffusers(state: dict[str, torch.Tensor], source: Path | str) -> dict[str, torch.Tensor]:
    """Pick the VAE keys of ``state`` (any prefix, any naming) and rename them to diffusers' names."""
    vae: dict[str, torch.Tensor] = {}
    for prefix in _PREFIXES:
        vae = {
            k[len(prefix) :]: v
            for k, v in state.items()
            if k.startswith(prefix) and k[len(prefix) :].startswith(_ENCODER_ROOTS + _DECODER_ROOTS)
        }
        if vae:
            break
    if not vae:
        raise ToolchainError(
            f"no VAE weights in {source} ({len(state)} tensors, e.g. {', '.join(list(state)[:_SHOWN])}); "
            f"expected encoder.*/decoder.* keys, optionally prefixed vae. or first_stage_model."
        )
    up_levels = 1 + max((int(m[1]) for k in vae if (m := _LDM_UP.match(k))), default=-1)
    out: dict[str, torch.Tensor] = {}
    for key, tensor in vae.items():
        name = diffusers_key(key, up_levels)
        if name in out:
            raise ToolchainError(
                f"SD VAE {source} holds two tensors for {name} (e.g. old and new attention names); "
                f"keep one naming in the file"
            )
        if _ATTN_PROJ.search(name) and tensor.ndim == 4 and tuple(tensor.shape[2:]) == (1, 1):
            tensor = tensor.reshape(tensor.shape[:2])  # LDM 1x1 conv -> Linear
        out[name] = tensor
    return out


# (pattern, replacement) applied to every key in order; a callable replacement gets the match
# and the number of LDM decoder levels. A rule matches only its own naming, so diffusers keys
# pass through the LDM rules unchanged and vice versa.
_Repl = str | Callable[[re.Match[str], int], str]
_RULES: tuple[tuple[re.Pattern[str], _Repl], ...] = tuple(
    (re.compile(pattern), repl)
    for pattern, repl in (
        (r"^encoder\.down\.(\d+)\.block\.(\d+)\.", r"encoder.down_blocks.\1.resnets.\2."),
        (r"^encoder\.down\.(\d+)\.downsample\.", r"encoder.down_blocks.\1.downsamplers.0."),
        (
            r"^decoder\.up\.(\d+)\.block\.(\d+)\.",
            lambda m, n: f"decoder.up_blocks.{n - 1 - int(m[1])}.resnets.{m[2]}.",
        ),
        (
            r"^decoder\.up\.(\d+)\.upsample\.",
            lambda m, n: f"decoder.up_blocks.{n - 1 - int(m[1])}.upsamplers.0.",
        ),
        (r"\.mid\.block_(\d+)\.", lambda m, n: f".mid_block.resnets.{int(m[1]) - 1}."),
        (r"\.mid\.attn_1\.", r".mid_block.attentions.0."),
        (r"\.nin_shortcut\.", r".conv_shortcut."),
        (r"^(encoder|decoder)\.norm_out\.", r"\1.conv_norm_out."),
        (r"(\.attentions\.\d+)\.norm\.", r"\1.group_norm."),
        (r"(\.attentions\.\d+)\.(?:q|query)\.", r"\1.to_q."),
        (r"(\.attentions\.\d+)\.(?:k|key)\.", r"\1.to_k."),
        (r"(\.attentions\.\d+)\.(?:v|value)\.", r"\1.to_v."),
        (r"(\.attentions\.\d+)\.(?:proj_out|proj_attn)\.", r"\1.to_out.0."),
    )
)


def diffusers_key(key: str, up_levels: int) -> str:
    """Rename one VAE key (LDM, old or new diffusers naming) to diffusers' AutoencoderKL name.

    ``up_levels`` is the number of LDM ``decoder.up.{k}`` levels in the source file
    (``decoder.up.{k}`` is ``decoder.up_blocks.{up_levels - 1 - k}``).
    """
    for pattern, repl in _RULES:
        if isinstance(repl, str):
            key = pattern.sub(repl, key)
        else:
            key = pattern.sub(lambda m, repl=repl: repl(m, up_levels), key)
    return key


def _prepare(
    vae: dict[str, torch.Tensor], roots: tuple[str, ...], module: nn.Module
) -> dict[str, torch.Tensor]:
    """The source tensors under ``roots``, cast to the dtypes of the module's own tensors."""
    own = module.state_dict()
    out = {}
    for k, v in vae.items():
        if k.startswith(roots):
            target = own.get(k)
            out[k] = v.to(target.dtype) if target is not None and v.is_floating_point() else v
    return out


def _mismatches(state: dict[str, torch.Tensor], module: nn.Module) -> str:
    """'' when ``state`` fits ``module`` exactly, else counts and first keys of what does not."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    shapes = [k for k in own if k in state and state[k].shape != own[k].shape]
    unexpected = [k for k in state if k not in own]
    parts = []
    if missing:
        parts.append(f"{len(missing)} of {len(own)} keys missing (e.g. {', '.join(missing[:_SHOWN])})")
    if shapes:
        shown = ", ".join(f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in shapes[:_SHOWN])
        parts.append(f"{len(shapes)} with other shapes (file vs preset, e.g. {shown})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:_SHOWN])})")
    return "; ".join(parts)


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ToolchainError(
            f"cannot read SD VAE {path} as safetensors: {first}; "
            f"pass a .safetensors file or a diffusers folder"
        ) from None


def _is_pickle(path: Path) -> bool:
    return path.suffix.lower() in PICKLE_SUFFIXES


def _refuse_pickle(path: Path) -> None:
    raise ToolchainError(
        f"SD VAE {path} is a pickle ({path.suffix}), which is not loaded (unpickling can run code); "
        f"convert it to .safetensors (safetensors.torch.save_file on a machine you trust) and pass that file"
    )
