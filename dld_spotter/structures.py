"""Per-instance containers that detectron2's ``Instances`` can index like tensors."""
from __future__ import annotations

from typing import Iterable, List, Union

import torch


class TextList(list):
    """A list of strings, one per instance, that ``Instances`` can slice and mask.

    ``Instances.__getitem__`` indexes every field with the same item: an int, a slice, a
    bool mask or a long index tensor. A plain ``list`` only understands the first two.
    """

    def __init__(self, texts: Iterable[str] = ()):
        super().__init__(texts)

    def __getitem__(self, item: Union[int, slice, torch.Tensor, List[int]]):
        if isinstance(item, int):
            return super().__getitem__(item)
        if isinstance(item, slice):
            return TextList(super().__getitem__(item))
        if isinstance(item, torch.Tensor):
            if item.dtype == torch.bool:
                if item.numel() != len(self):
                    raise IndexError(f"mask of {item.numel()} for {len(self)} texts")
                item = item.nonzero().flatten()
            item = item.tolist()
            if isinstance(item, int):
                return TextList([super().__getitem__(item)])
        return TextList([list.__getitem__(self, i) for i in item])
