"""What a preparation produced: counts per split, class and dataset, skips by reason, warnings."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from data.images import safe_text
from data.manifest import SKIPPED_NAME
from data.preprocessing import LABELS


@dataclass
class PrepareReport:
    out: str
    datasets: list[dict]                        # name, format, root, class_map, training_only
    settings: dict
    counts: dict[str, dict[str, int]]           # split -> class -> crops
    images: dict[str, int]                      # split -> source photos
    skipped: dict[str, int]                     # reason -> rows of skipped.csv
    by_dataset: dict[str, dict] = field(default_factory=dict)  # dataset -> {crops: {split: {class: n}}, skipped, ...}
    annotations_read: int = 0
    objects_seen: int = 0
    crops: int = 0
    warnings: list[str] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)  # near-duplicate photo groups kept in one split

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        """The report as JSON whose every string is valid UTF-8 (file names that are not are escaped)."""
        return json.dumps(_utf8(self.to_dict()), indent=2) + "\n"

    def summary(self) -> str:
        lines = [f"prepared {self.crops} crops from {sum(self.images.values())} images "
                 f"({self.objects_seen} annotated objects in {len(self.datasets)} dataset(s)) -> {self.out}"]
        lines += [f"note: {name}: {block['dataset_dir']['note']}" for name, block in self.by_dataset.items()
                  if block.get("dataset_dir", {}).get("note")]
        lines += _table(self.counts, self.images)
        if len(self.by_dataset) > 1:
            for name, block in self.by_dataset.items():
                per_split = ", ".join(f"{s} {sum(c.values())}" for s, c in block["crops"].items())
                role = " (training only)" if block["training_only"] else ""
                lines.append(f"  {name}{role}: {per_split}; skipped {sum(block['skipped'].values())}")
        if self.duplicates.get("groups"):
            lines.append(f"near-duplicate photos: {self.duplicates['photos']} in {self.duplicates['groups']} groups "
                         f"({self.duplicates.get('across_datasets', 0)} across datasets), each kept in one split; "
                         f"{self.duplicates['conflicting_heads']} heads labelled differently in a copy than in the "
                         "group's first photo")
        if self.skipped:
            lines.append(f"skipped ({sum(self.skipped.values())} rows in {SKIPPED_NAME}; "
                         "image-level rows count once per image):")
            width = max(len(r) for r in self.skipped)
            for reason, n in sorted(self.skipped.items(), key=lambda kv: (-kv[1], kv[0])):
                lines.append(f"  {reason:<{width}} {n:>5}")
        else:
            lines.append("skipped: nothing")
        lines += [f"warning: {w}" for w in self.warnings]
        return safe_text("\n".join(lines))


def _utf8(value):
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {_utf8(k): _utf8(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_utf8(v) for v in value]
    return value


def _table(counts: dict[str, dict[str, int]], images: dict[str, int]) -> list[str]:
    lines = [f"  {'split':<6} {'images':>7} " + " ".join(f"{c:>10}" for c in LABELS) + f" {'total':>7}"]
    for split, row in counts.items():
        lines.append(f"  {split:<6} {images.get(split, 0):>7} " + " ".join(f"{row.get(c, 0):>10}" for c in LABELS)
                     + f" {sum(row.values()):>7}")
    return lines
