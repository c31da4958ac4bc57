"""The float one-step graph as ONNX for ONNX Runtime's CPU provider.

One export serves both users: the ``onnxruntime`` host engine (:mod:`toolchain.engines`) exports
the checkpoint in memory at start-up, and export bundles ship the same export of their tile graph
as the CPU fallback (:mod:`toolchain.deploy.export`). It sits beside :mod:`toolchain.pipeline`,
below both, so a host engine needs nothing from deploy.
"""

from __future__ import annotations

import io
import warnings

import torch
from torch import nn

from toolchain.model.edge_sdsr import EdgeSDSR
from toolchain.pipeline import OneStepSR

CPU_ONNX_OPSET = 17
"""Below 18 the exporter lowers GroupNorm to InstanceNormalization, which ONNX Runtime's CPU
provider has a fast kernel for (opset 21's GroupNormalization is decomposed into ~10 slow nodes;
the NPU route needs opset 21, see :mod:`toolchain.deploy.onnx_qnn`)."""


def export_cpu_onnx(
    module: nn.Module, args: tuple[torch.Tensor, ...], input_names: list[str], output_names: list[str]
) -> bytes:
    """``module`` as static-shape float ONNX bytes for ONNX Runtime's CPU provider (opset 17).

    The one export of the fast CPU graph: the ``onnxruntime`` host engine and the CPU fallback
    graph of the bundles both use it. The TorchScript exporter takes about a second (the dynamo
    exporter of the NPU route takes over ten, too slow for every start of the CLI).
    """
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated in favour of dynamo
        torch.onnx.export(
            module.eval(),
            args,
            buffer,
            dynamo=False,
            opset_version=CPU_ONNX_OPSET,
            input_names=input_names,
            output_names=output_names,
        )
    return buffer.getvalue()


def export_float_onnx(model: EdgeSDSR, lr_tile: int, noise_scale: float = 0.0) -> bytes:
    """The checkpoint's one-step graph as ONNX bytes: ``lr`` (1, 3, t, t) -> ``hr`` (1, 3, 4t, 4t), NCHW.

    With ``noise_scale`` > 0 it takes the latent noise ``eps`` (1, C, t/2, t/2) as a second input.
    """
    sampler = OneStepSR(model.eval(), noise_scale=noise_scale)
    lr = torch.rand(1, 3, lr_tile, lr_tile, generator=torch.Generator().manual_seed(0))
    args: tuple[torch.Tensor, ...] = (lr,)
    names = ["lr"]
    if noise_scale:
        c = model.config.latent_channels
        args += (torch.zeros(1, c, lr_tile // 2, lr_tile // 2),)
        names.append("eps")
    return export_cpu_onnx(sampler, args, names, ["hr"])
