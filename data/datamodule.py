"""Lightning DataModule: any source -> preprocessed uint8 pixels in memory -> augmented float batches."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from .augment import AugmentConfig, build_transforms
from .preprocessing import DEFAULT_INPUT_SIZE, PreprocessSpec
from .images import Images
from .sources import SPLITS, SYNTHETIC, load_split, stratified_subset

log = logging.getLogger(__name__)


class PixelDataset(Dataset):
    """uint8 NHWC pixels held in memory; returns (float CHW in [0, 1], label)."""

    def __init__(self, data: Images, transform):
        self.pixels = torch.from_numpy(np.ascontiguousarray(data.pixels.transpose(0, 3, 1, 2)))
        self.labels = torch.from_numpy(data.labels)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.transform(self.pixels[i]), self.labels[i]


class HelmetDataModule(pl.LightningDataModule):
    def __init__(
        self,
        source: str = SYNTHETIC,
        image_size: int = DEFAULT_INPUT_SIZE,
        batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
        synthetic_counts: dict[str, int] | None = None,
        augment: AugmentConfig | None = None,
        train_fraction: float = 1.0,
    ):
        """
        Args:
            source: "synthetic" (built-in generator) or an ImageFolder root, either
                ``root/{train,val,test}/{helmet,no_helmet}/`` or ``root/{helmet,no_helmet}/`` (split here).
            image_size: square input side in pixels; stored with every checkpoint.
            synthetic_counts: images per split for the synthetic source, e.g. {"train": 3000}.
            augment: training augmentation (transforms v2); None or enabled=False disables it.
            train_fraction: train on this seeded share of each class's training images (a learning curve);
                val and test stay whole.
        """
        super().__init__()
        if source != SYNTHETIC:
            source = str(Path(source).resolve())  # checkpoints remember where their data came from
        self.save_hyperparameters(ignore=["augment"])  # plain data only: checkpoints load with weights_only
        self.hparams.source = source
        self.spec = PreprocessSpec(input_size=image_size)
        self.augment = augment if augment is not None else AugmentConfig()
        self.data: dict[str, Images] = {}

    def setup(self, stage: str | None = None) -> None:
        for split in SPLITS:
            if split not in self.data:
                self.data[split] = load_split(self.hparams.source, split, self.spec, self.hparams.seed,
                                              self.hparams.synthetic_counts)
                if split == "train" and self.hparams.train_fraction != 1:
                    self.data[split] = stratified_subset(self.data[split], self.hparams.train_fraction,
                                                         self.hparams.seed)
                log.info("%s: %d images %s", split, len(self.data[split]), self.data[split].class_counts())

    def class_counts(self, split: str = "train") -> dict[str, int]:
        self.setup()
        return self.data[split].class_counts()

    def _loader(self, split: str, train: bool) -> DataLoader:
        dataset = PixelDataset(self.data[split], build_transforms(self.augment, train=train))
        generator = torch.Generator().manual_seed(self.hparams.seed) if train else None
        return DataLoader(dataset, batch_size=self.hparams.batch_size, shuffle=train, drop_last=train and len(dataset) > self.hparams.batch_size,
                          generator=generator, num_workers=self.hparams.num_workers,
                          persistent_workers=self.hparams.num_workers > 0)

    def train_dataloader(self):
        return self._loader("train", train=True)

    def val_dataloader(self):
        return self._loader("val", train=False)

    def test_dataloader(self):
        return self._loader("test", train=False)
