"""Pixano 0.8.0 peer: a ``DatasetBuilder`` building the benchmark's N-item dataset, uri media.

argv: DATA_DIR (bench data v1/: <split>/*.jpg + metadata.jsonl) OUT_DIR. Runs in the pixano venv.
The same content as pinlake's build: one record per image (split, ``image_type``), one image view
(uri, width, height, format from the file header via Pillow, as Pixano's folder builders do), one
entity per object (``category``) with its bbox (xywh, pixels) and its 3 keypoints.
"""

import json
import os
import sys
import time
import warnings
from pathlib import Path

t0 = time.perf_counter()
warnings.simplefilter("ignore", DeprecationWarning)
import shortuuid  # noqa: E402
from PIL import Image as PILImage  # noqa: E402
from pixano.datasets import DatasetInfo  # noqa: E402
from pixano.datasets.builders import DatasetBuilder  # noqa: E402
from pixano.datasets.workspaces import WorkspaceType  # noqa: E402
from pixano.schemas import BBox, Entity, Image, KeyPoints, Record  # noqa: E402


class BenchRecord(Record):
    image_type: str = ""


class BenchEntity(Entity):
    category: str = ""


class BenchBuilder(DatasetBuilder):
    def __init__(self, source_dir: Path, target_dir: Path) -> None:
        info = DatasetInfo(
            name="bench",
            description="pinlake benchmark data",
            workspace=WorkspaceType.IMAGE,
            record=BenchRecord,
            entity=BenchEntity,
            bbox=BBox,
            keypoint=KeyPoints,
            views={"image": Image},
        )
        super().__init__(target_dir=target_dir, info=info)
        self.source_dir = source_dir
        by_schema = {cls: name for name, cls in self.schemas.items()}
        self.t_record, self.t_image, self.t_entity = by_schema[BenchRecord], by_schema[Image], by_schema[BenchEntity]
        self.t_bbox, self.t_kp = by_schema[BBox], by_schema[KeyPoints]

    def generate_data(self):
        for split_dir in sorted(p for p in self.source_dir.iterdir() if p.is_dir()):
            for line in (split_dir / "metadata.jsonl").read_text().splitlines():
                meta = json.loads(line)
                path = split_dir / meta["image"]
                with PILImage.open(path) as im:
                    width, height, fmt = im.width, im.height, im.format
                rid = shortuuid.uuid()
                record = BenchRecord(id=rid, split=split_dir.name, image_type=meta["image_type"])
                view = Image(
                    id=shortuuid.uuid(), record_id=rid, logical_name="image", uri=path.as_uri(), width=width, height=height, format=fmt
                )
                entities, boxes, kps = [], [], []
                objs = meta["objects"]
                for cat, box, kp in zip(objs["category"], objs["bbox"], objs["keypoints"]):
                    eid = shortuuid.uuid()
                    entities.append(BenchEntity(id=eid, record_id=rid, category=cat))
                    boxes.append(
                        BBox(
                            id=shortuuid.uuid(),
                            record_id=rid,
                            entity_id=eid,
                            view_id=view.id,
                            coords=box,
                            format="xywh",
                            is_normalized=False,
                            confidence=1.0,
                            source_type="ground_truth",
                            source_name="bench",
                        )
                    )
                    kps.append(
                        KeyPoints(
                            id=shortuuid.uuid(),
                            record_id=rid,
                            entity_id=eid,
                            view_id=view.id,
                            template_id="bench-3pt",
                            coords=kp,
                            states=["visible"] * (len(kp) // 2),
                            source_type="ground_truth",
                            source_name="bench",
                        )
                    )
                yield {self.t_record: record, self.t_image: view, self.t_entity: entities, self.t_bbox: boxes, self.t_kp: kps}


ds = BenchBuilder(Path(sys.argv[1]), Path(sys.argv[2])).build(mode="create")
rows = {name: ds.open_table(name).count_rows() for name in ds.info.tables} if hasattr(ds, "open_table") else {}
print("BENCH_RESULT " + json.dumps({"rows": rows, "op_s": time.perf_counter() - t0}), flush=True)
os._exit(0)  # built and reported; skip interpreter teardown (lancedb's threads crash it now and then)
