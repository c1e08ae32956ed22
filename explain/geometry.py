"""Where each cell of a map sits in the input image, and upsampling that puts it there.

A cell of a feature map is centred on its receptive field, not on the middle of the tile a naive resize gives
it. A stride-2 3x3 convolution padded symmetrically (PyTorch's default) centres output ``o`` on input pixel
``2o``; padded as TensorFlow's ``SAME`` on an even input (the ``tf`` conventions), on ``2o + 1``; a naive resize
puts it at ``2o + 0.5``. Over the slim model's four stride-2 layers that is 7.5 px up-left of the naive place
for symmetric padding and 7.5 px down-right for ``SAME``, at 96 px: half a 16-pixel cell. Upsampling by each
map's own geometry compares maps of networks padded differently (and occlusion grids) fairly.

Coordinates are pixel indices: pixel ``p`` covers ``[p - 0.5, p + 0.5]``; cell ``i`` is centred at
``offset + stride * i``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lightning_modules.models.conventions import Conv2dTFSame, same_padding


@dataclass(frozen=True)
class MapGeometry:
    cells: int     # the map's side
    offset: float  # input pixel (index) on which cell 0 is centred
    stride: float  # input pixels from one cell to the next

    @classmethod
    def tiles(cls, size: int, cells: int) -> "MapGeometry":
        """Each cell centred on its tile of ``size / cells`` pixels (what a naive resize assumes; occlusion grids)."""
        stride = size / cells
        return cls(cells, stride / 2 - 0.5, stride)

    def describe(self) -> str:
        return f"{self.cells}x{self.cells} cells, cell i centred on input pixel {self.offset:g} + {self.stride:g} i"


def layer_geometry(features: nn.Module, input_size: int) -> MapGeometry:
    """The geometry of the output of ``features`` (a module, or the ``nn.Sequential`` up to a layer) on a square
    ``input_size`` input, from the strided convolutions it runs, in the order it runs them."""
    convs: list[tuple[nn.Conv2d, int]] = []
    hooks = [m.register_forward_pre_hook(lambda m, args: convs.append((m, int(args[0].shape[-1]))))
             for m in features.modules() if isinstance(m, nn.Conv2d)]
    was_training = features.training
    try:
        with torch.no_grad():
            cells = int(features.eval()(torch.zeros(1, 3, input_size, input_size)).shape[-1])
    finally:
        features.train(was_training)
        for hook in hooks:
            hook.remove()
    offset, stride = 0.0, 1.0
    for conv, size in reversed(convs):
        (k, _), (s, _) = conv.kernel_size, conv.stride
        before = same_padding(size, k, s)[0] if isinstance(conv, Conv2dTFSame) else conv.padding[0]
        offset, stride = s * offset + (k - 1) / 2 - before, s * stride
    return MapGeometry(cells, offset, stride)


def upsample(maps: np.ndarray, size: int, geometry: MapGeometry | None = None) -> np.ndarray:
    """(N, h, w) or (h, w) maps -> (N, size, size) or (size, size), bilinear between cell centres placed by
    ``geometry`` (default: tiles), the edge cells' values held beyond them."""
    maps = np.asarray(maps, np.float32)
    single = maps.ndim == 2
    batch = maps[None] if single else maps
    rows, cols = batch.shape[-2:]
    geometry = geometry or MapGeometry.tiles(size, cols)
    if geometry.cells != cols:
        raise ValueError(f"a {rows}x{cols} map upsampled with the geometry of {geometry.cells}x{geometry.cells} cells")
    position = (np.arange(size) - geometry.offset) / geometry.stride  # in cells
    y, x = (torch.from_numpy((2 * position / max(cells - 1, 1) - 1).astype(np.float32)) for cells in (rows, cols))
    grid = torch.stack(torch.meshgrid(x, y, indexing="xy"), dim=-1)  # (size, size, [x, y])
    out = F.grid_sample(torch.from_numpy(batch)[:, None], grid.expand(len(batch), -1, -1, -1), mode="bilinear",
                        padding_mode="border", align_corners=True)[:, 0].numpy()
    return out[0] if single else out
