"""Non-finite and out-of-range numbers: options, model outputs and checkpoint weights (issue 13, item 2).

Each case must end in one `error:` line with no output file, never an all-black image and exit 0.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file
from test_cli import assert_one_line_error, invoke, photo

from toolchain.hashing import sha256_file
from toolchain.model import DEFAULT_CHECKPOINT
from toolchain.model.config import load_preset
from toolchain.model.edge_sdsr import HASH_KEY, EdgeSDSR


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    EdgeSDSR(load_preset("tiny")).save_pretrained(path)
    return path


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--noise-scale", "nan"),
        ("--noise-scale", "inf"),
        ("--noise-scale", "-0.5"),
        ("--noise-scale", "2"),
        ("--batch-size", "0"),
    ],
)
def test_numeric_options_must_be_finite_and_in_range(
    tmp_path: Path, tiny_ckpt: Path, option: str, value: str
):
    photo(20, 20).save(tmp_path / "in.png")
    result = invoke("upscale", tmp_path / "in.png", "-o", tmp_path / "o.png", "-c", tiny_ckpt, option, value)
    assert_one_line_error(result, option, "finite number")
    assert list(tmp_path.iterdir()) == [tmp_path / "in.png"]


def test_noise_scale_in_range_still_runs(tmp_path: Path, tiny_ckpt: Path) -> None:
    photo(20, 20).save(tmp_path / "in.png")
    result = invoke(
        "upscale", tmp_path / "in.png", "-o", tmp_path / "o.png", "-c", tiny_ckpt, "--noise-scale", "1"
    )
    assert result.exit_code == 0, result.output


def _rewrite_weights(ckpt: Path, dst: Path, poison: float, rehash: bool) -> Path:
    """A copy of ``ckpt`` with one decoder weight set to ``poison``; ``rehash`` updates its hash."""
    shutil.copytree(ckpt, dst)
    state = load_file(str(dst / "model.safetensors"))
    key = next(k for k in state if k.startswith("decoder.") and k.endswith("weight"))
    state[key].view(-1)[0] = poison
    save_file(state, str(dst / "model.safetensors"), metadata={"format": "1"})
    if rehash:
        config = json.loads((dst / "config.json").read_text())
        config[HASH_KEY] = sha256_file(dst / "model.safetensors")
        (dst / "config.json").write_text(json.dumps(config))
    return dst


@pytest.mark.parametrize("poison", [float("nan"), float("inf")])
def test_checkpoint_with_a_non_finite_weight_is_refused(
    tmp_path: Path, tiny_ckpt: Path, poison: float
) -> None:
    bad = _rewrite_weights(tiny_ckpt, tmp_path / "bad", poison, rehash=True)
    photo(20, 20).save(tmp_path / "in.png")
    result = invoke("upscale", tmp_path / "in.png", "-o", tmp_path / "o.png", "-c", bad)
    assert_one_line_error(result, "NaN/Inf", "decoder.")
    assert not (tmp_path / "o.png").exists()


def test_a_changed_weights_file_fails_the_checkpoint_hash(tmp_path: Path, tiny_ckpt: Path) -> None:
    bad = _rewrite_weights(tiny_ckpt, tmp_path / "bad", 0.123, rehash=False)
    photo(20, 20).save(tmp_path / "in.png")
    result = invoke("upscale", tmp_path / "in.png", "-o", tmp_path / "o.png", "-c", bad)
    assert_one_line_error(result, "sha256", "config.json")
    assert not (tmp_path / "o.png").exists()


def test_checkpoints_without_a_hash_still_load(tmp_path: Path, tiny_ckpt: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(tiny_ckpt, old)
    config = json.loads((old / "config.json").read_text())
    del config[HASH_KEY]
    (old / "config.json").write_text(json.dumps(config))
    EdgeSDSR.from_pretrained(old)


def test_saved_and_embedded_checkpoints_carry_the_weights_hash(tiny_ckpt: Path) -> None:
    for ckpt in (tiny_ckpt, DEFAULT_CHECKPOINT):
        config = json.loads((ckpt / "config.json").read_text())
        assert config[HASH_KEY] == sha256_file(ckpt / "model.safetensors")


def test_nan_model_output_is_an_error_and_writes_nothing(
    tmp_path: Path, tiny_ckpt: Path, monkeypatch
) -> None:
    """Outputs are checked whatever produces them (here a model whose forward pass yields NaN)."""
    import toolchain.upscaler as upscaler

    original = upscaler.TorchTileRunner.__call__

    def nan_tiles(self, tiles_nhwc, tiles):
        out = original(self, tiles_nhwc, tiles)
        out[-1, 0, 0, 0] = float("nan")
        return out

    monkeypatch.setattr(upscaler.TorchTileRunner, "__call__", nan_tiles)
    photo(20, 20).save(tmp_path / "in.png")
    args = ("upscale", tmp_path / "in.png", "-o", tmp_path / "o.png", "-c", tiny_ckpt)
    result = invoke(*args, "--engine", "torch")
    assert_one_line_error(result, "NaN/Inf pixels")
    assert list(tmp_path.iterdir()) == [tmp_path / "in.png"]
