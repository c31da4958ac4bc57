"""Model configs, component shapes, budget numbers and the checkpoint format.

Forward passes use the ``tiny`` preset only; ``edge`` and ``nano`` are built on the meta
device (``measure_budget``) or only read as configs.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import toolchain.model.edge_sdsr as edge_sdsr
from toolchain.budget import measure_budget
from toolchain.configio import from_dict, read_json, to_dict
from toolchain.errors import ToolchainError
from toolchain.model.config import (
    PRESETS_DIR,
    Conditioning,
    ModelConfig,
    load_model_config,
    load_preset,
    preset_names,
)
from toolchain.model.edge_sdsr import (
    CONFIG_NAME,
    HASH_KEY,
    WEIGHTS_NAME,
    EdgeSDSR,
    load_weights,
    read_checkpoint_config,
    save_checkpoint,
)
from toolchain.pipeline import OneStepSR


@pytest.fixture(scope="module")
def tiny_config() -> ModelConfig:
    return load_preset("tiny")


@pytest.fixture
def tiny_model(tiny_config: ModelConfig) -> EdgeSDSR:
    torch.manual_seed(0)
    return EdgeSDSR(tiny_config).eval()


@pytest.fixture
def tiny_checkpoint(tmp_path: Path, tiny_model: EdgeSDSR) -> Path:
    path = tmp_path / "ckpt"
    tiny_model.save_pretrained(path)
    return path


def _tiny_dict() -> dict:
    return to_dict(load_preset("tiny"))


def _assert_one_line(exc: pytest.ExceptionInfo[ToolchainError]) -> str:
    message = str(exc.value)
    assert message
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------- presets


def test_preset_names_cover_the_json_files() -> None:
    names = preset_names()
    assert {"edge", "nano", "tiny"} <= set(names)
    assert names == sorted(p.stem for p in PRESETS_DIR.glob("*.json"))


@pytest.mark.parametrize("name", preset_names())
def test_every_preset_loads_and_round_trips(name: str) -> None:
    config = load_preset(name)
    assert isinstance(config, ModelConfig)
    assert config.name == name
    assert config.scale == (2 if name.endswith("-x2") else 4)  # x2 presets are distillation teachers
    assert config.hr_tile == config.scale * config.lr_tile
    assert config.latent_size * 8 == config.hr_tile
    # the JSON file is the complete config: to_dict reproduces it exactly
    assert to_dict(config) == read_json(PRESETS_DIR / f"{name}.json")
    assert from_dict(ModelConfig, to_dict(config)) == config


def test_unknown_preset_is_a_one_line_error() -> None:
    with pytest.raises(ToolchainError, match="unknown preset 'nope'") as exc:
        load_preset("nope")
    message = _assert_one_line(exc)
    assert "tiny" in message


# --------------------------------------------------------------------------- shapes (tiny)


def test_lr_encoder_shapes_and_sigma_floor(tiny_model: EdgeSDSR, tiny_config: ModelConfig) -> None:
    lr = torch.rand(2, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        mu, sigma = tiny_model.encode_lr(lr)
    c = tiny_config.latent_channels
    assert c == 4
    assert mu.shape == (2, c, 16, 24)
    assert sigma.shape == (2, c, 16, 24)
    assert torch.isfinite(mu).all()
    assert (sigma > tiny_config.lr_encoder.sigma_floor).all()


def test_lr_encoder_sigma_stays_above_floor_for_extreme_inputs(tiny_model: EdgeSDSR) -> None:
    with torch.no_grad():
        for raw in (-1e3, 1e3):
            tiny_model.lr_encoder.conv_out.bias.fill_(raw)
            _, sigma = tiny_model.encode_lr(torch.zeros(1, 3, 16, 16))
            assert (sigma >= tiny_model.config.lr_encoder.sigma_floor).all()
            assert torch.isfinite(sigma).all()


def test_unet_in_out_shapes(tiny_model: EdgeSDSR, tiny_config: ModelConfig) -> None:
    c = tiny_config.latent_channels
    assert tiny_model.unet.conv_in.in_channels == c
    z = torch.randn(3, c, 8, 8)
    t = torch.tensor([0.0, 0.5, 1.0])
    with torch.no_grad():
        out = tiny_model.denoise(z, t)
    assert out.shape == (3, c, 8, 8)
    assert torch.isfinite(out).all()


def test_unet_depends_on_t(tiny_model: EdgeSDSR) -> None:
    z = torch.randn(1, 4, 8, 8).expand(2, -1, -1, -1)
    with torch.no_grad():
        out = tiny_model.denoise(z, torch.tensor([0.1, 0.9]))
    assert not torch.allclose(out[0], out[1])


def test_unidirectional_unet_has_eight_input_channels(tiny_config: ModelConfig) -> None:
    config = dataclasses.replace(tiny_config, conditioning=Conditioning.UNIDIRECTIONAL)
    model = EdgeSDSR(config).eval()
    assert model.unet.conv_in.in_channels == 8
    assert model.unet.conv_out.out_channels == 4
    with torch.no_grad():
        out = model.denoise(torch.randn(1, 8, 8, 8), torch.ones(1))
        hr = OneStepSR(model)(torch.rand(1, 3, 32, 32))
    assert out.shape == (1, 4, 8, 8)
    assert hr.shape == (1, 3, 128, 128)
    # the bidirectional model of the same preset sees the latent alone
    assert EdgeSDSR(tiny_config).unet.conv_in.in_channels == 4


def test_hr_encoder_and_decoder_shapes(tiny_model: EdgeSDSR) -> None:
    hr = torch.rand(2, 3, 8 * 2, 8 * 3) * 2 - 1
    with torch.no_grad():
        mean = tiny_model.hr_encoder(hr)
        z_h = tiny_model.encode_hr(hr)
        image = tiny_model.decode(z_h)
    assert mean.shape == (2, 4, 2, 3)
    assert torch.allclose(z_h, mean * tiny_model.config.latent_scaling)
    assert image.shape == (2, 3, 16, 24)


def test_decode_undoes_latent_scaling(tiny_model: EdgeSDSR) -> None:
    z = torch.randn(1, 4, 4, 4)
    with torch.no_grad():
        decoded = tiny_model.decode(z * tiny_model.config.latent_scaling)
        assert torch.allclose(decoded, tiny_model.decoder(z), atol=1e-5)


def test_one_step_sr_maps_lr_to_hr_in_unit_range(tiny_model: EdgeSDSR) -> None:
    lr = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        hr = OneStepSR(tiny_model)(lr)
    assert hr.shape == (2, 3, 128, 128)
    assert hr.dtype == torch.float32
    assert hr.min() >= 0.0 and hr.max() <= 1.0
    # default eps = 0: deterministic
    with torch.no_grad():
        assert torch.equal(hr, OneStepSR(tiny_model)(lr))


def test_component_params_are_consistent(tiny_model: EdgeSDSR) -> None:
    params = tiny_model.component_params()
    assert set(params) == {"lr_encoder", "unet", "decoder", "hr_encoder"}
    assert sum(params.values()) == sum(p.numel() for p in tiny_model.parameters())


# --------------------------------------------------------------------------- budget


def test_edge_budget() -> None:
    report = measure_budget(load_preset("edge"))
    assert report.preset == "edge"
    assert 150e6 <= report.params_total <= 175e6
    assert report.macs_per_patch <= 75e9
    assert report.flops_per_patch == 2 * report.macs_per_patch
    assert report.params_total == sum(report.params[n] for n in ("lr_encoder", "unet", "decoder"))
    assert report.lr_tile == [3, 128, 128]
    assert report.latent == [4, 64, 64]
    assert report.hr_tile == [3, 512, 512]
    assert set(report.macs_by_component) == {"lr_encoder", "unet", "decoder"}
    assert all(v > 0 for v in report.macs_by_component.values())
    assert sum(report.macs_by_component.values()) <= report.macs_per_patch


def test_nano_budget_fits_a_small_file() -> None:
    report = measure_budget(load_preset("nano"))
    assert report.params_total < 5.5e6
    assert report.flops_per_patch == 2 * report.macs_per_patch
    # float32 safetensors of every component (HR encoder included) stays about 20 MB
    assert sum(report.params.values()) * 4 < 22e6


def test_budget_of_tiny_matches_a_real_model(tiny_model: EdgeSDSR) -> None:
    report = measure_budget(tiny_model.config)
    assert report.params == tiny_model.component_params()
    assert report.lr_tile == [3, 32, 32]


# --------------------------------------------------------------------------- checkpoints


def test_save_and_load_round_trip_gives_identical_outputs(
    tiny_model: EdgeSDSR, tiny_checkpoint: Path
) -> None:
    assert sorted(p.name for p in tiny_checkpoint.iterdir()) == [CONFIG_NAME, WEIGHTS_NAME]
    meta = json.loads((tiny_checkpoint / CONFIG_NAME).read_text())
    assert meta["format"] == edge_sdsr.CHECKPOINT_FORMAT
    assert meta["model"] == to_dict(tiny_model.config)

    loaded = EdgeSDSR.from_pretrained(tiny_checkpoint).eval()
    assert loaded.config == tiny_model.config
    for key, value in tiny_model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    lr = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(OneStepSR(loaded)(lr), OneStepSR(tiny_model)(lr))


def test_save_pretrained_keeps_extra_metadata(tmp_path: Path, tiny_model: EdgeSDSR) -> None:
    tiny_model.save_pretrained(tmp_path / "ckpt", extra={"step": 7})
    assert json.loads((tmp_path / "ckpt" / CONFIG_NAME).read_text())["step"] == 7
    assert EdgeSDSR.from_pretrained(tmp_path / "ckpt").config == tiny_model.config


def test_weights_of_another_preset_are_rejected(tiny_checkpoint: Path) -> None:
    nano = load_preset("nano")
    with torch.device("meta"):
        model = EdgeSDSR(nano)
    with pytest.raises(ToolchainError, match="do not match the 'nano' architecture") as exc:
        model.load_state_dict_strict(load_weights(tiny_checkpoint / WEIGHTS_NAME), str(tiny_checkpoint))
    message = _assert_one_line(exc)
    assert "with other shapes" in message or "missing" in message


def test_config_json_of_another_preset_with_these_weights_is_rejected(tiny_checkpoint: Path) -> None:
    # a checkpoint whose config.json says unidirectional but whose weights are bidirectional
    meta = json.loads((tiny_checkpoint / CONFIG_NAME).read_text())
    meta["model"]["conditioning"] = "unidirectional"
    (tiny_checkpoint / CONFIG_NAME).write_text(json.dumps(meta))
    with pytest.raises(ToolchainError, match="do not match") as exc:
        EdgeSDSR.from_pretrained(tiny_checkpoint)
    message = _assert_one_line(exc)
    assert "unet.conv_in.weight" in message


def test_missing_and_unexpected_keys_are_rejected(tiny_model: EdgeSDSR) -> None:
    state = dict(tiny_model.state_dict())
    state.pop("unet.conv_out.bias")
    state["unet.extra"] = torch.zeros(1)
    with pytest.raises(ToolchainError) as exc:
        tiny_model.load_state_dict_strict(state, "memory")
    message = _assert_one_line(exc)
    assert "1 missing" in message and "unet.conv_out.bias" in message
    assert "1 unexpected" in message and "unet.extra" in message


@pytest.mark.parametrize("missing", [CONFIG_NAME, WEIGHTS_NAME])
def test_checkpoint_missing_a_file(tiny_checkpoint: Path, missing: str) -> None:
    (tiny_checkpoint / missing).unlink()
    with pytest.raises(ToolchainError, match=f"has no {missing}") as exc:
        EdgeSDSR.from_pretrained(tiny_checkpoint)
    _assert_one_line(exc)


def test_checkpoint_path_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="does not exist") as exc:
        EdgeSDSR.from_pretrained(tmp_path / "nowhere")
    _assert_one_line(exc)


def test_checkpoint_path_that_is_a_file(tiny_checkpoint: Path) -> None:
    with pytest.raises(ToolchainError, match="is a file") as exc:
        EdgeSDSR.from_pretrained(tiny_checkpoint / WEIGHTS_NAME)
    _assert_one_line(exc)


def _drop_weights_hash(path: Path) -> None:
    """Make ``path`` look like a checkpoint written before weights_sha256 existed."""
    meta = json.loads((path / CONFIG_NAME).read_text())
    del meta[HASH_KEY]
    (path / CONFIG_NAME).write_text(json.dumps(meta))


@pytest.mark.parametrize("hashed", [True, False], ids=["sha256", "no-sha256"])
@pytest.mark.parametrize("size", [0, 3, 4096])
def test_corrupt_weights(tiny_checkpoint: Path, size: int, hashed: bool) -> None:
    generator = torch.Generator().manual_seed(size)
    noise = torch.randint(0, 256, (size,), dtype=torch.uint8, generator=generator)
    (tiny_checkpoint / WEIGHTS_NAME).write_bytes(bytes(noise.tolist()))
    if not hashed:
        _drop_weights_hash(tiny_checkpoint)
    expected = "does not match the sha256" if hashed else "cannot read weights"
    with pytest.raises(ToolchainError, match=expected) as exc:
        EdgeSDSR.from_pretrained(tiny_checkpoint)
    _assert_one_line(exc)


@pytest.mark.parametrize("hashed", [True, False], ids=["sha256", "no-sha256"])
def test_truncated_weights(tiny_checkpoint: Path, hashed: bool) -> None:
    weights = tiny_checkpoint / WEIGHTS_NAME
    weights.write_bytes(weights.read_bytes()[:-100])
    if not hashed:
        _drop_weights_hash(tiny_checkpoint)
    expected = "does not match the sha256" if hashed else "cannot read weights"
    with pytest.raises(ToolchainError, match=expected) as exc:
        EdgeSDSR.from_pretrained(tiny_checkpoint)
    _assert_one_line(exc)


def _edit_checkpoint_config(path: Path, edit) -> None:
    meta = json.loads((path / CONFIG_NAME).read_text())
    edit(meta)
    (path / CONFIG_NAME).write_text(json.dumps(meta))


def test_checkpoint_config_with_unknown_key(tiny_checkpoint: Path) -> None:
    _edit_checkpoint_config(tiny_checkpoint, lambda m: m["model"]["unet"].update(dropout=0.1))
    with pytest.raises(ToolchainError, match="unknown key 'dropout'") as exc:
        EdgeSDSR.from_pretrained(tiny_checkpoint)
    message = _assert_one_line(exc)
    assert "model.unet" in message


def test_checkpoint_config_with_wrong_type(tiny_checkpoint: Path) -> None:
    _edit_checkpoint_config(tiny_checkpoint, lambda m: m["model"].update(lr_tile="32"))
    with pytest.raises(ToolchainError, match="lr_tile") as exc:
        EdgeSDSR.from_pretrained(tiny_checkpoint)
    _assert_one_line(exc)


@pytest.mark.parametrize(
    "content",
    ["{not json", "[]", json.dumps({"format": 99, "model": {}}), json.dumps({"format": 1})],
    ids=["invalid-json", "list", "wrong-format", "no-model"],
)
def test_checkpoint_config_that_is_not_a_checkpoint_config(tiny_checkpoint: Path, content: str) -> None:
    (tiny_checkpoint / CONFIG_NAME).write_text(content)
    with pytest.raises(ToolchainError) as exc:
        read_checkpoint_config(tiny_checkpoint)
    _assert_one_line(exc)


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_save_checkpoint_is_atomic_when_writing_fails(
    tmp_path: Path, tiny_model: EdgeSDSR, tiny_checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = _tree(tiny_checkpoint)

    def broken_save_file(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(edge_sdsr, "save_file", broken_save_file)
    changed = EdgeSDSR(tiny_model.config)
    with pytest.raises(ToolchainError, match="disk full; the previous checkpoint is unchanged"):
        changed.save_pretrained(tiny_checkpoint, extra={"step": 1})
    assert _tree(tiny_checkpoint) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temp or .old folders left

    # a fresh target: nothing is created
    with pytest.raises(ToolchainError):
        save_checkpoint(tmp_path / "new", tiny_model.config, tiny_model.state_dict())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_save_checkpoint_replaces_an_existing_checkpoint(tmp_path: Path, tiny_checkpoint: Path) -> None:
    other = EdgeSDSR(load_preset("tiny"))
    with torch.no_grad():
        other.unet.conv_out.bias.fill_(0.5)
    other.save_pretrained(tiny_checkpoint)
    loaded = EdgeSDSR.from_pretrained(tiny_checkpoint)
    assert torch.equal(loaded.unet.conv_out.bias, torch.full((4,), 0.5))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_save_checkpoint_survives_a_stale_old_folder(tmp_path: Path, tiny_model: EdgeSDSR) -> None:
    path = tmp_path / "ckpt"
    tiny_model.save_pretrained(path)
    stale = tmp_path / ".ckpt.old"  # as left by a save interrupted while removing the old copy
    stale.mkdir()
    (stale / WEIGHTS_NAME).write_bytes(b"leftover")
    tiny_model.save_pretrained(path)
    assert EdgeSDSR.from_pretrained(path).config == tiny_model.config
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


def test_save_checkpoint_creates_parent_folders(tmp_path: Path, tiny_model: EdgeSDSR) -> None:
    path = tmp_path / "a" / "b" / "ckpt"
    save_checkpoint(path, tiny_model.config, tiny_model.state_dict())
    assert (path / CONFIG_NAME).is_file() and (path / WEIGHTS_NAME).is_file()
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]
    assert os.path.getsize(path / WEIGHTS_NAME) > 0


# --------------------------------------------------------------------------- config validation


def _set(path: str, value):
    def edit(d: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            d = d[key]
        d[last] = value

    return edit


INVALID_CONFIGS = {
    "groups-do-not-divide": (_set("unet.norm_groups", 3), "not divisible by norm_groups"),
    "zero-norm-groups": (_set("lr_encoder.norm_groups", 0), "norm_groups"),
    "attention-length": (_set("unet.attention", [True]), "attention has 1 entries"),
    "head-dim-does-not-divide": (_set("unet.attention_head_dim", 5), "attention_head_dim"),
    "zero-head-dim": (_set("unet.attention_head_dim", 0), "attention_head_dim"),
    "empty-unet": (
        lambda d: d["unet"].update(block_channels=[], attention=[]),
        "block_channels",
    ),
    "unet-layers": (_set("unet.layers_per_block", 0), "layers_per_block"),
    "lr-encoder-layers": (_set("lr_encoder.layers_per_block", 0), "layers_per_block"),
    "lr-encoder-channels": (_set("lr_encoder.channels", [8, 8, 8]), "2 entries"),
    "negative-sigma-floor": (_set("lr_encoder.sigma_floor", -0.1), "sigma_floor"),
    "scale": (_set("scale", 3), "scale must be 4"),
    "odd-lr-tile": (_set("lr_tile", 33), "lr_tile"),
    "zero-lr-tile": (_set("lr_tile", 0), "lr_tile"),
    "latent-not-divisible": (_set("lr_tile", 34), "not divisible by UNet factor"),
    "zero-latent-channels": (_set("latent_channels", 0), "latent_channels"),
    "vae-levels": (_set("decoder.block_channels", [8, 8, 8]), "4 levels"),
    "bad-enum": (_set("conditioning", "sideways"), "'sideways' is not one of"),
    "bad-upsample": (_set("decoder.upsample", "bilinear"), "decoder.upsample"),
    "string-for-int": (_set("lr_tile", "32"), "expected int"),
    "float-for-int": (_set("lr_tile", 32.0), "expected int"),
    "bool-for-int": (_set("unet.layers_per_block", True), "expected int"),
    "bool-for-float": (_set("latent_scaling", True), "expected a number"),
    "int-for-list": (_set("unet.block_channels", 16), "expected a list"),
    "string-for-object": (_set("unet", "big"), "expected an object"),
    "unknown-key": (_set("unet.dropout", 0.1), "unknown key 'dropout'"),
    "missing-key": (lambda d: d.pop("decoder"), "missing key 'decoder'"),
}


@pytest.mark.parametrize("case", sorted(INVALID_CONFIGS))
def test_invalid_model_config_from_dict(case: str) -> None:
    edit, fragment = INVALID_CONFIGS[case]
    data = _tiny_dict()
    edit(data)
    with pytest.raises(ToolchainError) as exc:
        from_dict(ModelConfig, data, where="tiny")
    message = _assert_one_line(exc)
    assert fragment in message
    assert message.startswith("tiny")


@pytest.mark.parametrize("case", ["groups-do-not-divide", "attention-length", "unknown-key"])
def test_invalid_model_config_file(tmp_path: Path, case: str) -> None:
    edit, fragment = INVALID_CONFIGS[case]
    data = _tiny_dict()
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ToolchainError) as exc:
        load_model_config(path)
    message = _assert_one_line(exc)
    assert fragment in message and str(path) in message


def test_model_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError, match="does not exist") as exc:
        load_model_config(tmp_path / "missing.json")
    _assert_one_line(exc)
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x",\n  oops}')
    with pytest.raises(ToolchainError, match="not valid JSON") as exc:
        load_model_config(bad)
    _assert_one_line(exc)


@pytest.mark.parametrize("kind", ["bilinear", "bicubic"])
def test_untrained_decoder_output_is_about_the_lr_skip(kind: str) -> None:
    """The residual starts near 0 (not exactly: the layers below its output must get gradients)."""
    import torch.nn.functional as F

    from toolchain.model.config import LRSkip

    config = dataclasses.replace(load_preset("tiny"), lr_skip=LRSkip(kind))
    model = EdgeSDSR(config)
    lr = torch.rand(1, 3, 8, 8)
    z = torch.randn(1, 4, 4, 4)
    out = model.decode(z, lr)
    if kind == "bilinear":
        skip = F.interpolate(lr, scale_factor=4.0, mode="bilinear", align_corners=False) * 2 - 1
    else:
        skip = model.lr_skip(lr)
    assert 0 < (out - skip).abs().max() < 0.05
    out.sum().backward()
    assert model.decoder.decoder.conv_in.weight.grad.abs().sum() > 0
    assert "lr_skip.bicubic.weight" not in model.state_dict()  # fixed filters, not checkpointed
    with pytest.raises(ValueError, match="lr_skip"):
        model.decode(z)


def test_bicubic_skip_matches_pillow_bicubic_away_from_the_border() -> None:
    """The conv + depth-to-space form equals Pillow's bicubic (a = -0.5) upsampling."""
    from PIL import Image

    from toolchain.model.lr_skip import BicubicUpsample, bicubic_phase_filters

    assert torch.allclose(bicubic_phase_filters(4).sum(dim=(1, 2)), torch.ones(16, dtype=torch.float64))
    rng = np.random.default_rng(0)
    lr = rng.integers(64, 192, (12, 10, 3), dtype=np.uint8)  # no overshoot: Pillow clips between passes
    pil = np.asarray(Image.fromarray(lr).resize((40, 48), Image.Resampling.BICUBIC)).astype(np.float32)
    x = torch.from_numpy(lr).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        ours = BicubicUpsample(4)(x)[0].permute(1, 2, 0).numpy() * 255
    inner = (slice(8, -8), slice(8, -8))  # Pillow renormalises at the border, we replicate
    assert np.abs(np.clip(ours, 0, 255)[inner] - pil[inner]).max() <= 1.0
    assert ours.shape == pil.shape


def test_lr_encoder_ablation_switches() -> None:
    import torch.nn.functional as F

    from toolchain.model.config import LREncoderKind

    base = load_preset("tiny")
    lr = torch.rand(2, 3, 16, 16) * 2 - 1
    no_var = EdgeSDSR(
        dataclasses.replace(base, lr_encoder=dataclasses.replace(base.lr_encoder, variance=False))
    )
    mu, sigma = no_var.encode_lr(lr)
    assert torch.equal(sigma, torch.ones_like(mu))
    frozen_cfg = dataclasses.replace(
        base, lr_encoder=dataclasses.replace(base.lr_encoder, kind=LREncoderKind.FROZEN_HR_ENCODER)
    )
    frozen = EdgeSDSR(frozen_cfg)
    with torch.no_grad():
        mu, sigma = frozen.encode_lr(lr)
        up = F.interpolate(lr, scale_factor=4.0, mode="bicubic", align_corners=False).clamp(-1, 1)
        assert torch.allclose(mu, frozen.encode_hr(up))
    assert mu.shape == (2, 4, 8, 8) and torch.equal(sigma, torch.ones_like(mu))


def test_checkpoint_extra_cannot_overwrite_what_describes_the_checkpoint(
    tmp_path: Path, tiny_model: EdgeSDSR
) -> None:
    for key in ("format", "model", "toolchain_version"):
        with pytest.raises(ValueError, match=f"extra must not set {key}"):
            tiny_model.save_pretrained(tmp_path / key, extra={key: 2, "step": 1})
        assert not (tmp_path / key).exists()


def test_model_config_is_fixed_and_latent_scaling_is_model_state(tiny_model: EdgeSDSR) -> None:
    """The config is never swapped: training calibrates ``latent_scaling`` on the model itself."""
    config = tiny_model.config
    with pytest.raises(AttributeError):
        tiny_model.config = config  # type: ignore[misc]
    model = EdgeSDSR(config)
    hr = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        before = model.encode_hr(hr)
        model.latent_scaling = 2 * config.latent_scaling
        after = model.encode_hr(hr)
    assert torch.allclose(after, 2 * before)
    assert model.config.latent_scaling == 2 * config.latent_scaling
    assert model.config == dataclasses.replace(config, latent_scaling=2 * config.latent_scaling)


def test_lr_guide_starts_as_a_no_op_then_trains_and_needs_the_lr() -> None:
    """A fresh guide branch adds exactly 0 (its last conv is zero), yet gets gradients."""
    tiny = load_preset("tiny")
    guided_config = dataclasses.replace(tiny, decoder=dataclasses.replace(tiny.decoder, lr_guide=8))
    torch.manual_seed(0)
    plain = EdgeSDSR(tiny)
    guided = EdgeSDSR(guided_config)
    missing, unexpected = guided.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("decoder.lr_guide.") for k in missing)
    lr = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(OneStepSR(guided)(lr), OneStepSR(plain)(lr))
    z = torch.randn(1, 4, 4, 4)
    guided.decode(z, lr).square().sum().backward()
    assert guided.decoder.lr_guide.conv_out.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="needs the LR"):
        guided.decode(z)


@pytest.mark.parametrize("scale", [4, 2])
def test_lr_guide_joins_the_decoder_at_the_lr_resolution(scale: int) -> None:
    """x4: the input of the second up block (1/4 of HR); x2: the third (1/2), with its channels."""
    tiny = load_preset("tiny")
    config = dataclasses.replace(tiny, scale=scale, decoder=dataclasses.replace(tiny.decoder, lr_guide=8))
    model = EdgeSDSR(config)
    level = model.decoder.guide_level
    assert level == {4: 1, 2: 2}[scale]
    seen = {}
    model.decoder.decoder.up_blocks[level].register_forward_pre_hook(lambda _m, args: seen.update(x=args[0]))
    lr = torch.rand(1, 3, 8, 8)
    model.decode(torch.randn(1, 4, 8 * scale // 8, 8 * scale // 8), lr)
    assert seen["x"].shape[-2:] == lr.shape[-2:]
    assert model.decoder.lr_guide.conv_out.out_channels == seen["x"].shape[1]


def test_lr_guide_is_counted_in_the_budget_and_refused_on_the_hr_encoder() -> None:
    guided = load_preset("nano")  # the default carries a 32-channel guide
    nano = dataclasses.replace(guided, decoder=dataclasses.replace(guided.decoder, lr_guide=0))
    decoder_macs = [measure_budget(c).macs_by_component["decoder"] for c in (nano, guided)]
    extra = decoder_macs[1] - decoder_macs[0]
    # 3->32 3x3, two 32->32 3x3 and one 32->64 1x1 at the 128 x 128 LR tile
    assert extra == 128 * 128 * (9 * 3 * 32 + 2 * 9 * 32 * 32 + 32 * 64)
    with pytest.raises(ValueError, match="decoder switch"):
        dataclasses.replace(nano, hr_encoder=dataclasses.replace(nano.hr_encoder, lr_guide=8))
    with pytest.raises(ValueError, match="lr_guide must be >= 0"):
        dataclasses.replace(nano.decoder, lr_guide=-1)
