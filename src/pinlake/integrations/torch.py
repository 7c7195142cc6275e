"""Optional PyTorch adapter: a map-style dataset over a pin.

    from pinlake.integrations.torch import PinnedDataset
    ds = PinnedDataset("health_images@v1.0", transform=my_transform)
    image, target = ds[0]

``torch`` is imported only when a dataset is created; without it a clear error says how to
install it. Images are decoded with Pillow; ``target`` is a dict of the item's fields and its
annotations (boxes, keypoints, categories) as plain Python values.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any

import pinlake
from pinlake.errors import PinlakeError
from pinlake.util.sqltext import sql_str


def _require_torch() -> Any:
    try:
        import torch  # noqa: F401
        import torch.utils.data as tud
    except ImportError:
        raise PinlakeError(
            "pinlake.integrations.torch needs PyTorch, which is not installed",
            hint="pip install torch  (pinned reads without torch: pinlake.open(pin).to_batches(...))",
        ) from None
    return tud


class _Items:
    """The non-torch part: indexing items of a pin and decoding their first image view."""

    def __init__(
        self,
        pin: str,
        transform: Callable[[Any], Any] | None = None,
        *,
        library: str | os.PathLike[str] | None = None,
        view: str = "image",
        split: str | None = None,
        record_use: bool = False,
        run: str | None = None,
    ) -> None:
        self.pinned = pinlake.open(pin, library=library, record_use=record_use, run=run)
        self.transform = transform
        self.view = view
        items = self.pinned.to_arrow("item", columns=["id"], filter=f"split = {sql_str(split)}" if split else None)
        self.ids: list[str] = items.column("id").to_pylist()

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, index: int) -> tuple[Any, dict[str, Any]]:
        return self.load_many([index])[0]

    def load_many(self, indices: list[int]) -> list[tuple[Any, dict[str, Any]]]:
        """Several samples at once (a DataLoader batch): one item query for all of them, and the
        bytes of all their ``lake://`` views in one batched lake read."""
        from PIL import Image as PILImage

        wanted = [self.ids[i] for i in indices]
        by_id = {it.id: it for it in self.pinned.dataset.get_dataset_items(sorted(set(wanted)))}
        views = {}
        for item_id in wanted:
            view = getattr(by_id[item_id], self.view, None)
            views[item_id] = (view[0] if view else None) if isinstance(view, list) else view
        with_view = [k for k, v in views.items() if v is not None]
        media = dict(zip(with_view, self.pinned.dataset.read_medias([views[k] for k in with_view])))
        out = []
        for item_id in wanted:
            image = PILImage.open(io.BytesIO(media[item_id])).convert("RGB") if item_id in media else None
            if self.transform is not None:
                image = self.transform(image)
            out.append((image, by_id[item_id].model_dump(exclude={self.view})))
        return out


def PinnedDataset(pin: str, transform: Callable[[Any], Any] | None = None, **kwargs: Any) -> Any:
    """A ``torch.utils.data.Dataset`` (map-style) over the items of ``pin``: ``(image, target)``."""
    tud = _require_torch()

    class _TorchPinnedDataset(tud.Dataset):  # type: ignore[name-defined]  # torch is imported at call time (optional)
        def __init__(self) -> None:
            self.items = _Items(pin, transform, **kwargs)

        def __len__(self) -> int:
            return len(self.items)

        def __getitem__(self, index: int) -> tuple[Any, dict[str, Any]]:
            return self.items.load(index)

        def __getitems__(self, indices: list[int]) -> list[tuple[Any, dict[str, Any]]]:
            return self.items.load_many(list(indices))  # DataLoader fetches a whole batch in one call

    return _TorchPinnedDataset()
