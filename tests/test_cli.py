"""The `toolchain` CLI end to end: upscale, eval, info, train, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from toolchain.cli.main import app
from toolchain.model import DEFAULT_CHECKPOINT
from toolchain.model.config import load_preset
from toolchain.model.edge_sdsr import EdgeSDSR

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "tiny"
    EdgeSDSR(load_preset("tiny")).save_pretrained(path)
    return path


def photo(w: int, h: int, mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x / max(w, 1), y / max(h, 1), 0.5 + 0.3 * np.sin(x / 3.0)], -1)
    rgb = (np.clip(rgb + rng.normal(0, 0.02, rgb.shape), 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(rgb).convert(mode)


def invoke(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    err = [line for line in result.output.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("error:"), result.output
    for needle in needles:
        assert needle in err[0], err[0]


def test_upscale_300x200_writes_1200x800(tmp_path: Path, tiny_ckpt: Path) -> None:
    photo(300, 200).save(tmp_path / "in.png")
    result = invoke("upscale", tmp_path / "in.png", "-o", tmp_path / "out.png", "-c", tiny_ckpt)
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out.png").size == (1200, 800)


def test_upscale_512_gives_2048_from_25_tiles(tmp_path: Path, tiny_ckpt: Path, monkeypatch) -> None:
    import toolchain.upscaler as upscaler

    seen: list[int] = []
    original = upscaler.TorchTileRunner.__call__

    def counting(self, tiles_nhwc, tiles):
        seen.extend((t.y, t.x) for t in tiles)
        return original(self, tiles_nhwc, tiles)

    monkeypatch.setattr(upscaler.TorchTileRunner, "__call__", counting)
    photo(512, 512).save(tmp_path / "in.png")
    args = ("upscale", tmp_path / "in.png", "-o", tmp_path / "out.webp", "-c", tiny_ckpt)
    result = invoke(*args, "--tile", "128", "--overlap", "32", "--engine", "torch")
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out.webp").size == (2048, 2048)
    assert len(seen) == 25 and len(set(seen)) == 25


def test_upscale_tiles_like_the_models_graph_by_default(tmp_path: Path, tiny_ckpt: Path, monkeypatch) -> None:
    """Without --tile, the tiny model (lr_tile 32) is run on 32 px tiles with 8 px overlap."""
    import toolchain.upscaler as upscaler

    seen: list[tuple[int, int, int]] = []
    original = upscaler.TorchTileRunner.__call__

    def recording(self, tiles_nhwc, tiles):
        seen.extend((t.y, t.x, tiles_nhwc.shape[1]) for t in tiles)
        return original(self, tiles_nhwc, tiles)

    monkeypatch.setattr(upscaler.TorchTileRunner, "__call__", recording)
    photo(60, 40).save(tmp_path / "in.png")
    args = ("upscale", tmp_path / "in.png", "-o", tmp_path / "out.png", "-c", tiny_ckpt)
    result = invoke(*args, "--engine", "torch")
    assert result.exit_code == 0, result.output
    assert sorted(seen) == [(y, x, 32) for y in (0, 24) for x in (0, 24, 48)]


def test_upscale_folder_modes_and_alpha(tmp_path: Path, tiny_ckpt: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    photo(40, 30, "L").save(src / "gray.png")
    photo(40, 30, "P").save(src / "palette.png")
    photo(40, 30, "CMYK").save(src / "cmyk.jpg")
    rgba = photo(40, 30, "RGBA")
    rgba.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, 40, dtype=np.uint8), (30, 1))))
    rgba.save(src / "alpha.png")
    gray16 = (np.linspace(0, 65535, 40 * 30).reshape(30, 40)).astype(np.uint16)
    Image.fromarray(gray16).save(src / "deep.png")
    result = invoke("upscale", src, "-o", tmp_path / "out", "-c", tiny_ckpt)
    assert result.exit_code == 0, result.output
    for name in ("gray.png", "palette.png", "cmyk.jpg", "deep.png"):
        out = Image.open(tmp_path / "out" / name)
        assert out.size == (160, 120) and out.mode == "RGB", name
    alpha = Image.open(tmp_path / "out" / "alpha.png")
    assert alpha.mode == "RGBA" and alpha.size == (160, 120)
    a = np.asarray(alpha)[..., 3].astype(int)
    assert a[:, 0].mean() < 20 and a[:, -1].mean() > 235  # the alpha ramp survives


def test_upscale_exif_orientation(tmp_path: Path, tiny_ckpt: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    photo(40, 20).save(tmp_path / "rot.jpg", exif=exif)
    result = invoke("upscale", tmp_path / "rot.jpg", "-o", tmp_path / "rot_x4.png", "-c", tiny_ckpt)
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "rot_x4.png").size == (80, 160)


def test_upscale_seed_noise_is_deterministic(tmp_path: Path, tiny_ckpt: Path) -> None:
    photo(48, 40).save(tmp_path / "in.png")
    outs = []
    for i, seed in enumerate((1, 1, 2)):
        out = tmp_path / f"o{i}.png"
        args = (
            "upscale",
            tmp_path / "in.png",
            "-o",
            out,
            "-c",
            tiny_ckpt,
            "--noise-scale",
            "1",
            "--seed",
            seed,
        )
        assert invoke(*args).exit_code == 0
        outs.append(np.asarray(Image.open(out)))
    assert np.array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], outs[2])


def test_upscale_with_default_checkpoint(tmp_path: Path) -> None:
    assert (DEFAULT_CHECKPOINT / "model.safetensors").is_file(), "the embedded default checkpoint is missing"
    photo(64, 48).save(tmp_path / "in.png")
    result = invoke("upscale", tmp_path / "in.png", "-o", tmp_path / "out.png")
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(tmp_path / "out.png")).astype(float)
    assert out.shape == (192, 256, 3)
    ref = np.asarray(photo(64, 48).resize((256, 192), Image.Resampling.BICUBIC)).astype(float)
    assert np.abs(out - ref).mean() < 25  # a real upscale of the input, not noise


def test_default_checkpoint_adds_a_residual_to_its_bicubic_skip(tmp_path: Path) -> None:
    """The embedded nano adds a learned residual to its bicubic LR skip: on sharp edges its output
    must differ from the skip alone (a dead decoder would pass a bicubic-closeness check)."""
    import torch

    y, x = np.mgrid[0:192, 0:256]
    hr = np.stack(
        [
            ((x // 16 + y // 16) % 2) * 0.7 + 0.15,
            (x // 24 % 2) * 0.5 + 0.25,
            0.5 + 0.35 * np.sign(np.sin((x + y) / 9)),
        ],
        -1,
    )
    lr8 = Image.fromarray((hr * 255).round().astype(np.uint8)).resize((64, 48), Image.Resampling.BICUBIC)
    lr8.save(tmp_path / "edges.png")
    result = invoke("upscale", tmp_path / "edges.png", "-o", tmp_path / "out.png")
    assert result.exit_code == 0, result.output
    out = np.asarray(Image.open(tmp_path / "out.png")).astype(float)
    model = EdgeSDSR.from_pretrained(DEFAULT_CHECKPOINT)
    assert model.lr_skip is not None
    lr = torch.from_numpy(np.asarray(lr8, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        skip_only = ((model.lr_skip(lr) + 1) / 2).clamp(0, 1)[0].permute(1, 2, 0).numpy() * 255
    # measured 4.36 gray levels for the shipped nano (1.17 before it had the LR guide); rounding: <= 0.5
    assert np.abs(out - skip_only).mean() > 0.6


def test_bad_inputs_give_one_line_errors(tmp_path: Path, tiny_ckpt: Path) -> None:
    good = tmp_path / "good.png"
    photo(20, 20).save(good)
    corrupt = tmp_path / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    assert_one_line_error(
        invoke("upscale", corrupt, "-o", tmp_path / "o.png", "-c", tiny_ckpt), "corrupt.png"
    )
    (tmp_path / "notes.txt").write_text("x")
    assert_one_line_error(
        invoke("upscale", tmp_path / "notes.txt", "-o", tmp_path / "o.png", "-c", tiny_ckpt)
    )
    assert_one_line_error(
        invoke("upscale", tmp_path / "missing.png", "-o", tmp_path / "o.png"), "missing.png"
    )
    assert_one_line_error(invoke("upscale", good, "-o", tmp_path / "o.png", "-c", tmp_path / "nope"), "nope")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert_one_line_error(invoke("upscale", good, "-o", blocker / "o.png", "-c", tiny_ckpt))
    assert_one_line_error(invoke("upscale", good, "-o", tmp_path / "o.gif", "-c", tiny_ckpt), ".gif")
    huge = tmp_path / "huge.png"
    Image.new("1", (8000, 8000)).save(huge)
    assert_one_line_error(invoke("upscale", huge, "-o", tmp_path / "o.png", "-c", tiny_ckpt), "8000x8000")
    assert not list(tmp_path.glob("o.*")) and not list(tmp_path.glob(".o*"))


def test_mismatched_checkpoint(tmp_path: Path, tiny_ckpt: Path) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_ckpt, bad)
    config = json.loads((bad / "config.json").read_text())
    config["model"]["unet"]["block_channels"] = [32, 32]
    (bad / "config.json").write_text(json.dumps(config))
    photo(20, 20).save(tmp_path / "in.png")
    result = invoke("upscale", tmp_path / "in.png", "-o", tmp_path / "o.png", "-c", bad)
    assert_one_line_error(result, "do not match")
    assert not (tmp_path / "o.png").exists()


def make_pairs(root: Path, n: int = 2) -> Path:
    for sub in ("HR", "LR"):
        (root / sub).mkdir(parents=True)
    for i in range(n):
        hr = photo(128, 96, seed=i)
        hr.save(root / "HR" / f"im{i}.png")
        hr.resize((32, 24), Image.Resampling.BICUBIC).save(root / "LR" / f"im{i}.png")
    return root


def test_eval_bicubic_and_model(tmp_path: Path, tiny_ckpt: Path) -> None:
    data = make_pairs(tmp_path / "set")
    result = invoke("eval", "--data", data, "--baseline", "bicubic", "-o", tmp_path / "ev", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "ev" / "set-bicubic.json").read_text())
    assert summary["images"] == 2 and summary["psnr_y"] > 20 and summary["niqe"] is None
    rows = (tmp_path / "ev" / "set-bicubic.csv").read_text().splitlines()
    assert rows[0].startswith("name,psnr_y,ssim_y") and len(rows) == 3
    result = invoke("eval", "--data", data, "-c", tiny_ckpt, "-o", tmp_path / "ev")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ev" / "set-edge-sd-sr-tiny.json").is_file()


def test_eval_errors(tmp_path: Path) -> None:
    data = make_pairs(tmp_path / "set")
    result = invoke("eval", "--data", data, "--baseline", "bicubic", "--niqe-params", tmp_path / "none.npz")
    assert_one_line_error(result, "none.npz")
    assert_one_line_error(invoke("eval", "--data", tmp_path / "empty", "--baseline", "bicubic"), "HR/")


def test_info_json(tmp_path: Path, tiny_ckpt: Path) -> None:
    result = invoke("info", "--preset", "edge", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert 150e6 <= report["params_total"] <= 175e6
    assert report["macs_per_patch"] <= 75e9
    assert set(report["params"]) == {"lr_encoder", "unet", "decoder", "hr_encoder"}
    result = invoke("info", "-c", tiny_ckpt, "--json")
    assert json.loads(result.output)["preset"] == "tiny"
    assert_one_line_error(invoke("info", "--preset", "huge"), "unknown preset")


def write_recipe(tmp_path: Path, steps: int) -> Path:
    data = tmp_path / "train"
    data.mkdir(exist_ok=True)
    for i in range(3):
        photo(96, 80, seed=i).save(data / f"{i}.png")
    (data / "broken.png").write_bytes(b"nope")
    recipe = {
        "preset": "tiny",
        "train_data": ["train"],
        "hr_crop": 64,
        "stages": [
            {"stage": s, "steps": steps, "learning_rate": 1e-3, "batch_size": 2, "save_every": 2}
            for s in ("autoencoder", "joint", "decoder")
        ],
    }
    path = tmp_path / "recipe.json"
    path.write_text(json.dumps(recipe))
    return path


def test_train_runs_and_resumes(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, steps=4)
    result = invoke("train", "--recipe", recipe, "-o", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert "skipped 1 file" in result.output
    final = tmp_path / "run" / "decoder"
    assert EdgeSDSR.from_pretrained(final).config.name == "tiny"
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in log} == {"autoencoder", "joint", "decoder"}
    assert_one_line_error(invoke("train", "--recipe", recipe, "-o", tmp_path / "run"), "--resume")
    result = invoke("train", "--recipe", recipe, "-o", tmp_path / "run", "--resume")
    assert result.exit_code == 0 and "already complete" in result.output


def test_train_logs_data_share_and_tensorboard_scalars(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    recipe = write_recipe(tmp_path, steps=10)
    result = invoke("train", "--recipe", recipe, "-o", tmp_path / "run", "--tensorboard")
    assert result.exit_code == 0, result.output
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert all(0.0 < r["data_frac"] < 1.0 for r in log if "loss" in r)
    events = EventAccumulator(str(tmp_path / "run" / "tensorboard")).Reload()
    assert {"autoencoder/loss", "joint/sigma_mean", "decoder/data_frac"} <= set(events.Tags()["scalars"])
    joint = [r["loss"] for r in log if r["stage"] == "joint" and "loss" in r]
    assert [e.value for e in events.Scalars("joint/loss")] == pytest.approx(joint)


def test_train_config_errors(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, steps=2)
    data = json.loads(recipe.read_text())
    data["learning_rat"] = 1
    recipe.write_text(json.dumps(data))
    assert_one_line_error(invoke("train", "--recipe", recipe, "-o", tmp_path / "r"), "learning_rat")
    del data["learning_rat"]
    data["hr_crop"] = "big"
    recipe.write_text(json.dumps(data))
    assert_one_line_error(invoke("train", "--recipe", recipe, "-o", tmp_path / "r"), "hr_crop")


def test_train_with_local_sd_vae(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    source = EdgeSDSR(load_preset("tiny"))
    vae = {**source.hr_encoder.state_dict(), **source.decoder.state_dict()}  # diffusers names
    save_file({k: v.contiguous() for k, v in vae.items()}, str(tmp_path / "vae.safetensors"))
    recipe = write_recipe(tmp_path, steps=2)
    args = ("train", "--recipe", recipe, "-o", tmp_path / "run", "--sd-vae", tmp_path / "vae.safetensors")
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert "autoencoder: skipped" in result.output
    trained = EdgeSDSR.from_pretrained(tmp_path / "run" / "decoder")
    for key, value in source.hr_encoder.state_dict().items():
        assert (trained.hr_encoder.state_dict()[key] == value).all(), key
    assert_one_line_error(
        invoke("train", "--recipe", recipe, "-o", tmp_path / "r2", "--sd-vae", tmp_path / "x")
    )


def test_degrade_makes_reproducible_pairs_and_skips_corrupt_files(tmp_path: Path) -> None:
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    photo(70, 66, seed=1).save(hr_dir / "a.png")
    photo(64, 64, seed=2).save(hr_dir / "b.jpg")
    (hr_dir / "broken.png").write_bytes(b"not an image")
    for out in ("x", "y"):
        result = invoke("degrade", hr_dir, "-o", tmp_path / out, "--seed", "3")
        assert result.exit_code == 0, result.output
        assert "wrote 2 pairs" in result.output and "skipped 1 file" in result.output
    hr_a = np.asarray(Image.open(tmp_path / "x" / "HR" / "a.png"))
    lr_a = np.asarray(Image.open(tmp_path / "x" / "LR" / "a.png"))
    assert hr_a.shape == (64, 68, 3) and lr_a.shape == (16, 17, 3)  # HR cropped to a multiple of 4
    assert np.array_equal(lr_a, np.asarray(Image.open(tmp_path / "y" / "LR" / "a.png")))
    other = invoke("degrade", hr_dir, "-o", tmp_path / "z", "--seed", "4")
    assert other.exit_code == 0
    assert not np.array_equal(lr_a, np.asarray(Image.open(tmp_path / "z" / "LR" / "a.png")))


def test_degrade_makes_a_camera_probe_and_refuses_a_kind_beside_it(tmp_path: Path) -> None:
    hr_dir = tmp_path / "hr"
    hr_dir.mkdir()
    photo(64, 64, seed=1).save(hr_dir / "a.png")
    result = invoke("degrade", hr_dir, "-o", tmp_path / "reg", "--probe", "registration")
    assert result.exit_code == 0, result.output
    assert "wrote 1 pairs (registration, seed 0)" in result.output
    assert np.asarray(Image.open(tmp_path / "reg" / "LR" / "a.png")).shape == (16, 16, 3)
    both = invoke("degrade", hr_dir, "-o", tmp_path / "x", "--probe", "sensor", "--kind", "bicubic")
    assert_one_line_error(both, "either --kind or --probe")
    assert not (tmp_path / "x").exists()


def test_degrade_without_usable_images_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "hr").mkdir()
    (tmp_path / "hr" / "broken.png").write_bytes(b"not an image")
    assert_one_line_error(invoke("degrade", tmp_path / "hr", "-o", tmp_path / "out"), "no usable HR images")


@pytest.mark.parametrize(
    "args",
    [
        ("--target", "s24-exynos"),
        ("--target", "s24-dsp", "--graphs", "litert"),
        ("--target", "s24-dsp", "--precision", "fp16"),
    ],
)
def test_export_via_aihub_without_an_onnx_graph_fails_before_any_work(
    tmp_path: Path, tiny_ckpt: Path, monkeypatch, args: tuple[str, ...]
) -> None:
    import toolchain.deploy.aihub as aihub
    import toolchain.deploy.export as export_module

    def no_work(*_args, **_kwargs):
        raise AssertionError("the route check must come first")

    monkeypatch.setattr(aihub, "check_aihub_ready", no_work)
    monkeypatch.setattr(export_module, "export_bundle", no_work)
    result = invoke("export", *args, "--via", "aihub", "-c", tiny_ckpt, "-o", tmp_path / "b")
    assert_one_line_error(result, "--via aihub", "builds none", "--via local")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("force", [False, True])
def test_export_to_an_existing_file_names_it_as_not_a_bundle_folder(
    tmp_path: Path, tiny_ckpt: Path, force: bool
) -> None:
    """Issue 26 item 11: `-o <existing file>` said "pass --force", and with --force "not a folder"."""
    existing = tmp_path / "notes.txt"
    existing.write_text("keep me")
    result = invoke("export", "--target", "cpu", "-c", tiny_ckpt, "-o", existing, *(["--force"] * force))
    assert_one_line_error(
        result, f"--out {existing} is a file, not a bundle folder", "pass the path of a folder"
    )
    assert "--force" not in result.output and existing.read_text() == "keep me"


def test_errors_are_caught_at_the_root_for_any_command() -> None:
    """A command needs no decorator: the root group turns a ToolchainError into one line."""
    import typer

    from toolchain.cli.common import RootGroup
    from toolchain.errors import ToolchainError

    assert isinstance(typer.main.get_command(app), RootGroup)
    fresh = typer.Typer(cls=RootGroup)

    @fresh.command()
    def boom() -> None:
        raise ToolchainError("the thing is broken; fix the thing")

    @fresh.command()
    def fine() -> None:
        pass

    assert_one_line_error(runner.invoke(fresh, ["boom"]), "the thing is broken")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("export", "--target", "pixel9"), ("unknown target 'pixel9'", "s24-dsp")),
        (("export", "--precision", "a4w4"), ("unknown precision 'a4w4'", "a16w8")),
        (("upscale", "x.png", "-o", "y.png", "--device", "gpu"), ("--device 'gpu'", "available: cpu")),
        (("upscale", "x.png", "-o", "y.png", "--device", "tpu"), ("--device 'tpu'", "available: cpu")),
        (("upscale", "x.png", "-o", "y.png", "--device", "meta"), ("--device 'meta'", "available: cpu")),
        (("eval", "--data", "d", "--device", "meta"), ("--device 'meta'", "available: cpu")),
        (
            ("train", "--recipe", "r.json", "-o", "run", "--device", "cuda:3"),
            ("--device 'cuda:3'", "available"),
        ),
    ],
)
def test_option_values_are_validated_types(args: tuple[str, ...], needles: tuple[str, ...]) -> None:
    assert_one_line_error(invoke(*args), *needles)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1", "mps"])
def test_gpu_devices_are_accepted_names_or_one_line_errors(
    tmp_path: Path, tiny_ckpt: Path, device: str
) -> None:
    """cuda:N is how PyTorch users name a GPU: it runs where it exists, else one line lists what exists."""
    from toolchain.devices import available_devices

    photo(20, 20).save(tmp_path / "in.png")
    result = invoke(
        "upscale", tmp_path / "in.png", "-o", tmp_path / "o.png", "-c", tiny_ckpt, "--device", device
    )
    if device in available_devices():
        assert result.exit_code == 0, result.output
    else:
        assert_one_line_error(result, f"--device '{device}' is not available", "available: cpu")
        assert not (tmp_path / "o.png").exists()
