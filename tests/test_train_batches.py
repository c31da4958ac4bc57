"""Training batches (issue 25): the CPU default's stream is the one from before, workers give the
same batches whatever their number, resume stays exact, and every DDP rank draws its own crops."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_train import stage, train, write_recipe

from toolchain.configio import to_dict
from toolchain.data import training_batches
from toolchain.data.datasets import HRCropSampler
from toolchain.data.degradations import DegradationConfig
from toolchain.data.training_batches import BatchSpec, TrainingBatches
from toolchain.train import stages

# sha256 of the (hr, lr) batches of the first 3 joint steps (8-bit values, which every CPU
# computes alike) and of the generator state after them, for the recipe below; recorded with the
# code before issue 25 (commit bae5c86), whose loop drew crops and degradations inline.
GOLDEN_STREAM = "efcf9e2ed72948d33eaa861b335dbaca75a81d290fa925a6815a0fe62fb131e8"


def _realesrgan_recipe(tmp_path: Path, stages_: list[dict]) -> Path:
    path = write_recipe(tmp_path, stages_)
    data = json.loads(path.read_text())
    degradation = to_dict(DegradationConfig.realesrgan_stablesr())
    del degradation["scale"]
    degradation["clean_prob"] = 0.3
    data["degradation"] = degradation
    path.write_text(json.dumps(data))
    return path


def _record_batches(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every (hr, lr) pair the stage loss sees, as 8-bit bytes."""
    seen: list[bytes] = []
    forward = stages.StageLoss.forward

    def recording(self, hr, lr, gen):  # noqa: ANN001, ANN202
        for x in (hr, lr):
            seen.append((x.detach() * 255).round().to(torch.uint8).cpu().numpy().tobytes())
        return forward(self, hr, lr, gen)

    monkeypatch.setattr(stages.StageLoss, "forward", recording)
    return seen


def test_the_cpu_default_draws_the_stream_it_drew_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _record_batches(monkeypatch)
    recipe = _realesrgan_recipe(tmp_path, [stage("joint", 3, save_every=3)])
    train(recipe, tmp_path / "run")
    state = torch.load(tmp_path / "run" / "joint" / "train_state.pt", weights_only=True)
    digest = hashlib.sha256(b"".join(seen) + state["generators"][0].numpy().tobytes()).hexdigest()
    assert len(seen) == 6
    assert digest == GOLDEN_STREAM, digest


def _spec(on_host: bool = True, images: int = 4) -> BatchSpec:
    rng = np.random.default_rng(0)
    data = HRCropSampler([rng.integers(0, 256, (48, 56, 3), dtype=np.uint8) for _ in range(images)], 32)
    return BatchSpec(data, 3, DegradationConfig.realesrgan_stablesr(), 4, on_host)


def _draw(spec: BatchSpec, workers: int, rank: int = 0, first: int = 0, count: int = 3) -> list[torch.Tensor]:
    """hr and lr of ``count`` batches from batch ``first`` on, as one list."""
    batches = TrainingBatches(
        spec, torch.device("cpu"), workers, torch.Generator().manual_seed(0), 5, rank, first, count
    )
    try:
        return [t for _ in range(count) for t in batches.next()]
    finally:
        batches.close()


def test_workers_draw_the_same_batches_whatever_their_number() -> None:
    one, two = _draw(_spec(), 1), _draw(_spec(), 2)
    assert all(torch.equal(a, b) for a, b in zip(one, two, strict=True))
    assert all(lr.shape == (3, 3, 8, 8) and torch.equal(lr, (lr * 255).round() / 255) for lr in one[1::2])
    # a resumed stage continues at its batch index
    assert all(torch.equal(a, b) for a, b in zip(_draw(_spec(), 2, first=1, count=2), one[2:], strict=True))
    # another rank (or the in-process stream) draws other crops
    assert not any(torch.equal(a, b) for a, b in zip(_draw(_spec(), 1, rank=1)[::2], one[::2], strict=True))
    assert not any(torch.equal(a, b) for a, b in zip(_draw(_spec(), 0)[::2], one[::2], strict=True))


@pytest.mark.parametrize("workers", [0, 1])
def test_the_device_path_draws_parameters_on_the_host_and_pixels_on_the_device(workers: int) -> None:
    """The GPU's path, run on the CPU: the drawn plan applied with the torch JPEG and a device generator."""
    first, again = _draw(_spec(on_host=False), workers), _draw(_spec(on_host=False), workers)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    hr, lr = first[0], first[1]
    assert lr.shape == (3, 3, 8, 8) and torch.equal(lr, (lr * 255).round() / 255)
    assert torch.equal(hr, _draw(_spec(on_host=True), workers)[0])  # the same crops either way


@pytest.mark.parametrize(("workers", "on_host"), [(1, True), (0, False), (2, False)])
def test_resume_is_bit_identical_with_workers_and_on_the_device_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int, on_host: bool
) -> None:
    from rich.console import Console
    from safetensors.torch import load_file

    from toolchain.train.recipe import load_recipe
    from toolchain.train.stages import run_recipe

    monkeypatch.setattr(stages, "degrades_on_host", lambda device: on_host)

    def run(recipe: Path, resume: bool = False) -> Path | None:
        config, folders = load_recipe(recipe)
        out = recipe.parent / "run"
        return run_recipe(config, folders, out, resume, None, Console(quiet=True), workers=workers)

    final_a = run(_realesrgan_recipe(tmp_path / "a", [stage("joint", 4)]))
    split = _realesrgan_recipe(tmp_path / "b", [stage("joint", 2)])
    run(split)
    split.write_text(split.read_text().replace('"steps": 2', '"steps": 4'))
    final_b = run(split, resume=True)
    wa, wb = load_file(str(final_a / "model.safetensors")), load_file(str(final_b / "model.safetensors"))
    assert all(torch.equal(wa[key], wb[key]) for key in wa)
    state = torch.load(final_b / "train_state.pt", weights_only=True)
    assert ("pixel_generators" in state) == (not on_host)


def _ddp_rank(rank: int, recipe: Path, workers: int, results: Path) -> None:
    """One gloo rank of a real two-process run, recording the crops its loss sees."""
    import torch.distributed as dist
    from rich.console import Console

    from toolchain.train.ddp import DistContext
    from toolchain.train.recipe import load_recipe
    from toolchain.train.stages import run_recipe

    dist.init_process_group("gloo", init_method=f"file://{results / 'rendezvous'}", rank=rank, world_size=2)
    torch.set_num_threads(1)
    seen: list[str] = []
    forward = stages.StageLoss.forward

    def recording(self, hr, lr, gen):  # noqa: ANN001, ANN202
        seen.append(hashlib.sha256(hr.numpy().tobytes()).hexdigest())
        return forward(self, hr, lr, gen)

    stages.StageLoss.forward = recording
    config, folders = load_recipe(recipe)
    ctx = DistContext(rank, 2, torch.device("cpu"))
    run_recipe(
        config, folders, recipe.parent / "run", False, None, Console(quiet=True), ctx=ctx, workers=workers
    )
    (results / f"{rank}.json").write_text(json.dumps(seen))
    dist.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 1])
def test_each_ddp_rank_draws_its_own_crops(tmp_path: Path, workers: int) -> None:
    import torch.multiprocessing as mp

    recipe = write_recipe(tmp_path, [stage("joint", 3, save_every=3)])
    mp.spawn(_ddp_rank, args=(recipe, workers, tmp_path), nprocs=2)
    ranks = [json.loads((tmp_path / f"{r}.json").read_text()) for r in range(2)]
    assert [len(r) for r in ranks] == [3, 3]
    assert len(set(ranks[0] + ranks[1])) == 6  # no batch drawn twice, on one rank or across them
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert any(r.get("ranks_in_sync") for r in log)


def test_workers_must_not_be_negative(tmp_path: Path) -> None:
    from test_cli import assert_one_line_error, invoke

    assert_one_line_error(
        invoke("train", "--recipe", tmp_path / "r.json", "-o", tmp_path / "run", "--workers", "-1"),
        "--workers",
    )


def test_default_workers() -> None:
    assert training_batches.default_workers(torch.device("cpu")) == 0
    assert training_batches.default_workers(torch.device("cuda", 0)) == training_batches.GPU_WORKERS > 0
