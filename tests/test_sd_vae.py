"""Importing a local SD v1.5 VAE (toolchain.model.sd_vae) from tiny fake VAEs in every accepted form."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from toolchain.errors import ToolchainError
from toolchain.model.autoencoder import HREncoder
from toolchain.model.config import AutoencoderConfig, ModelConfig, Upsample, load_preset
from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.model.sd_vae import SD_PRESET_HINT, SDVaeImport, diffusers_key, load_sd_vae

TINY = load_preset("tiny")
NEAREST_DECODER = replace(TINY.decoder, upsample=Upsample.NEAREST)
# SD v1.5's structure at toy widths: channel changes (conv_shortcut), 2 layers, mid attention.
SD_LIKE = AutoencoderConfig(
    block_channels=(8, 16, 32, 32),
    layers_per_block=2,
    norm_groups=4,
    mid_attention=True,
    upsample=Upsample.NEAREST,
)
CONFIGS = {
    "tiny": TINY,  # pixel_shuffle decoder
    "tiny_nearest": replace(TINY, decoder=NEAREST_DECODER),
    "sd_like": replace(TINY, name="sd_like", hr_encoder=SD_LIKE, decoder=SD_LIKE),
    "edge_like": replace(TINY, name="edge_like", hr_encoder=SD_LIKE),  # SD encoder, compact decoder
}
# (preset loaded into, preset the fake SD VAE is made from: its decoder always has SD's layout)
CASES = {
    "tiny": ("tiny", "tiny_nearest"),
    "tiny_nearest": ("tiny_nearest", "tiny_nearest"),
    "sd_like": ("sd_like", "sd_like"),
    "edge_like": ("edge_like", "sd_like"),
}


def _model(config: ModelConfig, seed: int) -> EdgeSDSR:
    torch.manual_seed(seed)
    return EdgeSDSR(config).eval()


def _vae_state(model: EdgeSDSR) -> dict[str, torch.Tensor]:
    """The model's VAE halves under diffusers' AutoencoderKL names."""
    return {**model.hr_encoder.state_dict(), **model.decoder.state_dict()}


_LDM_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"}


def _to_ldm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """diffusers -> original LDM/CompVis names, built token by token (independent of the module's regexes)."""
    n_up = 1 + max(int(k.split(".")[2]) for k in state if k.startswith("decoder.up_blocks."))
    out = {}
    for key, tensor in state.items():
        p = key.split(".")
        if p[0] in ("quant_conv", "post_quant_conv") or p[1] in ("conv_in", "conv_out"):
            head, rest = p[:2], p[2:]
        elif p[1] == "conv_norm_out":
            head, rest = [p[0], "norm_out"], p[2:]
        elif p[1] in ("down_blocks", "up_blocks"):
            level = p[2] if p[1] == "down_blocks" else str(n_up - 1 - int(p[2]))
            head = [p[0], "down" if p[1] == "down_blocks" else "up", level]
            if p[3] == "resnets":
                head, rest = [*head, "block", p[4]], p[5:]
            else:  # downsamplers.0 / upsamplers.0
                head, rest = [*head, "downsample" if p[3] == "downsamplers" else "upsample"], p[5:]
        elif p[2] == "resnets":  # mid_block
            head, rest = [p[0], "mid", f"block_{int(p[3]) + 1}"], p[4:]
        else:  # mid_block.attentions.0.<sub>[.0].<param>
            assert p[2] == "attentions", key
            head = [p[0], "mid", "attn_1", _LDM_ATTN[p[4]]]
            rest = p[6:] if p[4] == "to_out" else p[5:]
            if p[4] != "group_norm" and rest == ["weight"]:
                tensor = tensor[:, :, None, None]  # Linear -> 1x1 conv, as LDM stores them
        rest = ["nin_shortcut" if r == "conv_shortcut" else r for r in rest]
        out[".".join(head + rest)] = tensor
    assert len(out) == len(state)
    return out


def _old_attention_names(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    names = {".to_q.": ".query.", ".to_k.": ".key.", ".to_v.": ".value.", ".to_out.0.": ".proj_attn."}
    out = {}
    for key, tensor in state.items():
        for new, old in names.items():
            key = key.replace(new, old)
        out[key] = tensor
    return out


def _save(state: dict[str, torch.Tensor], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def _write_diffusers_folder(state: dict[str, torch.Tensor], folder: Path) -> Path:
    _save(state, folder / "diffusion_pytorch_model.safetensors")
    (folder / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKL"}), encoding="utf-8")
    return folder


def _write_form(form: str, state: dict[str, torch.Tensor], tmp: Path) -> tuple[Path, Path]:
    """Write ``state`` (diffusers names) in one accepted form; returns (path to pass, file expected)."""
    weights = "diffusion_pytorch_model.safetensors"
    if form == "diffusers_folder":
        folder = _write_diffusers_folder(state, tmp / "sd-vae")
        return folder, folder / weights
    if form == "pipeline_folder":
        _write_diffusers_folder(state, tmp / "sd15" / "vae")
        (tmp / "sd15" / "model_index.json").write_text("{}", encoding="utf-8")
        return tmp / "sd15", tmp / "sd15" / "vae" / weights
    if form == "diffusers_file":
        path = _save(state, tmp / "vae.safetensors")
    elif form == "diffusers_file_vae_prefix":
        path = _save({f"vae.{k}": v for k, v in state.items()}, tmp / "vae.safetensors")
    elif form == "ldm_file":
        path = _save(_to_ldm(state), tmp / "vae-ft-mse.safetensors")
    elif form == "full_sd_checkpoint":
        full = {f"first_stage_model.{k}": v for k, v in _to_ldm(state).items()}
        full["model.diffusion_model.input_blocks.0.0.weight"] = torch.randn(4, 4, 3, 3)
        full["cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight"] = torch.randn(2, 2)
        full["encoder_hidden_proj.weight"] = torch.randn(2)  # not a VAE key despite the prefix
        path = _save(full, tmp / "v1-5-pruned-emaonly.safetensors")
    elif form == "old_attention_names":
        path = _save(_old_attention_names(state), tmp / "vae-old.safetensors")
    else:
        raise AssertionError(form)
    return path, path


FORMS = (
    "diffusers_folder",
    "pipeline_folder",
    "diffusers_file",
    "diffusers_file_vae_prefix",
    "ldm_file",
    "full_sd_checkpoint",
    "old_attention_names",
)


def _assert_same(got: dict[str, torch.Tensor], want: dict[str, torch.Tensor]) -> None:
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype, k
        assert torch.equal(got[k], want[k]), k


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("case", list(CASES))
def test_load_every_form(tmp_path: Path, form: str, case: str) -> None:
    config, src_config = (CONFIGS[name] for name in CASES[case])
    src = _model(src_config, seed=1)
    arg, expected_file = _write_form(form, _vae_state(src), tmp_path)

    dst = _model(config, seed=2)
    dec_before = {k: v.clone() for k, v in dst.decoder.state_dict().items()}
    unet_before = {k: v.clone() for k, v in dst.unet.state_dict().items()}
    assert not torch.equal(dst.hr_encoder.encoder.conv_in.weight, src.hr_encoder.encoder.conv_in.weight)

    result = load_sd_vae(dst, arg)

    assert isinstance(result, SDVaeImport)
    assert result.source == expected_file
    assert result.encoder_loaded
    _assert_same(dst.hr_encoder.state_dict(), src.hr_encoder.state_dict())
    _assert_same(dst.unet.state_dict(), unet_before)
    if config.decoder.upsample is Upsample.PIXEL_SHUFFLE:
        assert not result.decoder_loaded
        assert result.reason_decoder_skipped is not None
        assert "compact" in result.reason_decoder_skipped
        assert "pixel_shuffle" in result.reason_decoder_skipped
        assert "keeps its own weights" in result.reason_decoder_skipped
        _assert_same(dst.decoder.state_dict(), dec_before)
    else:
        assert result.decoder_loaded
        assert result.reason_decoder_skipped is None
        _assert_same(dst.decoder.state_dict(), src.decoder.state_dict())


def test_loaded_model_computes_the_same(tmp_path: Path) -> None:
    """After an LDM import (1x1-conv attention, reversed up levels) both halves compute as the source."""
    config = CONFIGS["sd_like"]
    src = _model(config, seed=3)
    path, _ = _write_form("full_sd_checkpoint", _vae_state(src), tmp_path)
    dst = _model(config, seed=4)
    load_sd_vae(dst, path)
    hr = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        z = src.encode_hr(hr)
        assert torch.allclose(dst.encode_hr(hr), z)
        assert torch.allclose(dst.decode(z), src.decode(z))


def test_half_precision_file_is_cast_to_the_model_dtype(tmp_path: Path) -> None:
    config = CONFIGS["tiny_nearest"]
    src = _model(config, seed=5)
    half = {k: v.half() for k, v in _vae_state(src).items()}
    path = _save(half, tmp_path / "vae.fp16.safetensors")
    dst = _model(config, seed=6)
    assert load_sd_vae(dst, path).decoder_loaded
    want = {k: v.half().float() for k, v in src.hr_encoder.state_dict().items()}
    _assert_same(dst.hr_encoder.state_dict(), want)


def test_variant_file_in_a_diffusers_folder(tmp_path: Path) -> None:
    src = _model(CONFIGS["tiny_nearest"], seed=7)
    path = _save(_vae_state(src), tmp_path / "vae" / "diffusion_pytorch_model.fp16.safetensors")
    dst = _model(TINY, seed=8)
    assert load_sd_vae(dst, tmp_path).source == path
    _assert_same(dst.hr_encoder.state_dict(), src.hr_encoder.state_dict())


def test_summary_is_one_line(tmp_path: Path) -> None:
    src = _model(CONFIGS["tiny_nearest"], seed=9)
    path = _save(_vae_state(src), tmp_path / "vae.safetensors")
    text = load_sd_vae(_model(TINY, seed=10), path).summary()
    assert "\n" not in text
    assert str(path) in text and "HR encoder" in text and "decoder not loaded" in text


@pytest.mark.parametrize(
    ("ldm", "diffusers"),
    [  # names as they appear in SD v1.5 files (4 decoder levels)
        (
            "encoder.down.2.block.0.nin_shortcut.weight",
            "encoder.down_blocks.2.resnets.0.conv_shortcut.weight",
        ),
        ("encoder.down.0.downsample.conv.bias", "encoder.down_blocks.0.downsamplers.0.conv.bias"),
        ("encoder.mid.block_1.norm1.weight", "encoder.mid_block.resnets.0.norm1.weight"),
        ("encoder.mid.attn_1.norm.bias", "encoder.mid_block.attentions.0.group_norm.bias"),
        ("encoder.mid.attn_1.proj_out.weight", "encoder.mid_block.attentions.0.to_out.0.weight"),
        ("encoder.norm_out.weight", "encoder.conv_norm_out.weight"),
        ("decoder.mid.block_2.conv1.weight", "decoder.mid_block.resnets.1.conv1.weight"),
        ("decoder.mid.attn_1.q.weight", "decoder.mid_block.attentions.0.to_q.weight"),
        ("decoder.up.3.upsample.conv.bias", "decoder.up_blocks.0.upsamplers.0.conv.bias"),
        ("decoder.up.0.block.2.norm2.bias", "decoder.up_blocks.3.resnets.2.norm2.bias"),
        ("decoder.up.1.block.0.nin_shortcut.weight", "decoder.up_blocks.2.resnets.0.conv_shortcut.weight"),
        ("decoder.norm_out.bias", "decoder.conv_norm_out.bias"),
        ("quant_conv.weight", "quant_conv.weight"),
        ("post_quant_conv.bias", "post_quant_conv.bias"),
        ("decoder.conv_in.weight", "decoder.conv_in.weight"),
        ("encoder.mid_block.attentions.0.key.bias", "encoder.mid_block.attentions.0.to_k.bias"),
        ("decoder.mid_block.attentions.0.proj_attn.weight", "decoder.mid_block.attentions.0.to_out.0.weight"),
        # diffusers names pass through unchanged
        ("decoder.up_blocks.1.resnets.2.conv2.weight", "decoder.up_blocks.1.resnets.2.conv2.weight"),
        ("encoder.mid_block.attentions.0.to_v.weight", "encoder.mid_block.attentions.0.to_v.weight"),
    ],
)
def test_key_rules_on_sd_names(ldm: str, diffusers: str) -> None:
    assert diffusers_key(ldm, 4) == diffusers


def test_edge_hr_encoder_has_sd_v15_shapes() -> None:
    """The edge preset's HR encoder has SD v1.5's encoder keys (108 with quant_conv) and widths."""
    with torch.device("meta"):
        enc = HREncoder(load_preset("edge").hr_encoder, 4)
    shapes = {k: tuple(v.shape) for k, v in enc.state_dict().items()}
    assert len(shapes) == 108
    assert shapes["encoder.conv_in.weight"] == (128, 3, 3, 3)
    assert shapes["encoder.down_blocks.1.resnets.0.conv_shortcut.weight"] == (256, 128, 1, 1)
    assert shapes["encoder.down_blocks.2.downsamplers.0.conv.weight"] == (512, 512, 3, 3)
    assert "encoder.down_blocks.3.downsamplers.0.conv.weight" not in shapes
    assert shapes["encoder.mid_block.attentions.0.to_q.weight"] == (512, 512)
    assert shapes["encoder.mid_block.attentions.0.to_out.0.bias"] == (512,)
    assert shapes["encoder.conv_out.weight"] == (8, 512, 3, 3)
    assert shapes["quant_conv.weight"] == (8, 8, 1, 1)


# --- failures: one line, naming the path, and nothing loaded -----------------------------------------


def _error(model: EdgeSDSR, path: Path) -> str:
    before = {k: v.clone() for k, v in model.hr_encoder.state_dict().items()}
    with pytest.raises(ToolchainError) as info:
        load_sd_vae(model, path)
    msg = str(info.value)
    assert "\n" not in msg
    assert str(path) in msg
    _assert_same(model.hr_encoder.state_dict(), before)
    return msg


def test_missing_path(tmp_path: Path) -> None:
    msg = _error(_model(TINY, 0), tmp_path / "nope")
    assert "does not exist" in msg and "nothing is downloaded" in msg


@pytest.mark.parametrize("name", ["vae-ft-mse-840000-ema-pruned.ckpt", "vae.pt", "vae.bin"])
def test_pickle_file_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x80\x02}q\x00.")  # an (empty) pickle; it must never be unpickled
    msg = _error(_model(TINY, 0), path)
    assert "pickle" in msg and "safetensors" in msg


def test_pickle_only_folder_refused(tmp_path: Path) -> None:
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x02}q\x00.")
    with pytest.raises(ToolchainError, match="pickle.*convert it to .safetensors"):
        load_sd_vae(_model(TINY, 0), tmp_path)


def test_folder_without_weights(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    msg = _error(_model(TINY, 0), tmp_path)
    assert "no diffusion_pytorch_model.safetensors" in msg


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "vae.safetensors"
    path.write_bytes(b"not a safetensors file at all")
    assert "cannot read" in _error(_model(TINY, 0), path)


def test_file_without_vae_keys(tmp_path: Path) -> None:
    path = _save({"model.diffusion_model.out.2.weight": torch.zeros(4, 4)}, tmp_path / "unet.safetensors")
    assert "no VAE weights" in _error(_model(TINY, 0), path)


def test_shape_mismatch(tmp_path: Path) -> None:
    wide = replace(TINY, hr_encoder=replace(TINY.hr_encoder, block_channels=(16, 16, 16, 16)))
    path = _save(_to_ldm(_vae_state(_model(wide, 1))), tmp_path / "vae.safetensors")
    msg = _error(_model(TINY, 2), path)
    assert "does not fit the HR encoder of preset 'tiny'" in msg
    assert "with other shapes" in msg and "(16, 3, 3, 3) vs (8, 3, 3, 3)" in msg
    assert "missing" not in msg
    assert SD_PRESET_HINT in msg


def test_missing_keys(tmp_path: Path) -> None:
    state = _vae_state(_model(TINY, 1))
    del state["encoder.conv_out.weight"], state["quant_conv.bias"]
    path = _save(state, tmp_path / "vae.safetensors")
    msg = _error(_model(TINY, 2), path)
    n = len(_model(TINY, 2).hr_encoder.state_dict())
    assert f"2 of {n} keys missing (e.g. encoder.conv_out.weight, quant_conv.bias)" in msg
    assert SD_PRESET_HINT in msg


def test_unexpected_encoder_keys(tmp_path: Path) -> None:
    """An SD-style encoder (mid attention, 2 layers) must not load partially into a smaller one."""
    path = _save(_vae_state(_model(CONFIGS["sd_like"], 1)), tmp_path / "vae.safetensors")
    msg = _error(_model(TINY, 2), path)
    assert "unexpected (e.g." in msg and SD_PRESET_HINT in msg


def test_two_names_for_one_tensor(tmp_path: Path) -> None:
    state = _vae_state(_model(CONFIGS["sd_like"], 1))
    state["encoder.mid_block.attentions.0.query.weight"] = state[
        "encoder.mid_block.attentions.0.to_q.weight"
    ].clone()
    path = _save(state, tmp_path / "vae.safetensors")
    assert "two tensors for encoder.mid_block.attentions.0.to_q.weight" in _error(
        _model(CONFIGS["sd_like"], 2), path
    )
