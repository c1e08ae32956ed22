"""The random state Lightning does not checkpoint, saved with every checkpoint and put back on resume.

Lightning restores weights, optimizer, LR scheduler, loops and callback states, but not the random
number generators: torch's global generators (augmentation, dropout, input noise, MixUp/CutMix),
numpy's and Python's, and the generator the train DataLoader shuffles with. Without them a resumed
fit sees other batches and other augmentations than an uninterrupted one would.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.trainer.states import TrainerFn

CHECKPOINT_KEY = "random_state"


def train_loader_generators(trainer: pl.Trainer) -> list[torch.Generator]:
    """The generators the train DataLoader(s) shuffle with (and draw their workers' base seed from)."""
    loaders = trainer.train_dataloader
    if isinstance(loaders, Mapping):
        loaders = list(loaders.values())
    elif not isinstance(loaders, (list, tuple)):
        loaders = [loaders]
    return [loader.generator for loader in loaders if getattr(loader, "generator", None) is not None]


def capture(trainer: pl.Trainer) -> dict:
    """Every generator's state as plain tensors, numbers and lists (checkpoints load with weights_only)."""
    _, numpy_keys, numpy_pos, numpy_has_gauss, numpy_gauss = np.random.get_state()
    python_version, python_internal, python_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "torch_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(numpy_keys.astype(np.int64)), "pos": int(numpy_pos),
                  "has_gauss": int(numpy_has_gauss), "cached_gaussian": float(numpy_gauss)},
        "python": {"version": python_version, "internal": list(python_internal), "gauss_next": python_gauss},
        "train_loaders": [generator.get_state() for generator in train_loader_generators(trainer)],
    }


def restore_global(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["torch_cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["torch_cuda"])
    numpy = state["numpy"]
    np.random.set_state(("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"],
                         numpy["cached_gaussian"]))
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"]), python["gauss_next"]))


class RandomState(pl.Callback):
    """Saves the random state with every checkpoint (``checkpoint["random_state"]``) and, when a fit resumes from
    one, restores it as the first resumed epoch starts.

    Checkpoints are written at the end of a training epoch, after validation; nothing draws random numbers
    between there and the next epoch's start, so restoring at ``on_train_epoch_start`` continues every stream
    where the uninterrupted run continues it. Under DDP each rank gets rank 0's state; ``seed_everything`` gives
    every rank the same seed and every rank draws the same amount, so the ranks' states are equal anyway.
    """

    def __init__(self):
        self._pending: dict | None = None

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        # A checkpoint written before the loaded state was applied must carry the loaded state, not this process's.
        checkpoint[CHECKPOINT_KEY] = self._pending if self._pending is not None else capture(trainer)

    def on_load_checkpoint(self, trainer, pl_module, checkpoint):
        if trainer.state.fn == TrainerFn.FITTING:  # not when testing loads the best checkpoint
            self._pending = checkpoint.get(CHECKPOINT_KEY)

    def on_train_epoch_start(self, trainer, pl_module):
        if self._pending is None:
            return
        state, self._pending = self._pending, None
        restore_global(state)
        generators = train_loader_generators(trainer)
        if len(generators) != len(state["train_loaders"]):
            return  # another loader layout than the checkpoint's: nothing to match the states to
        for generator, loader_state in zip(generators, state["train_loaders"]):
            generator.set_state(loader_state)
        self._restart_train_iterator(trainer)

    @staticmethod
    def _restart_train_iterator(trainer: pl.Trainer) -> None:
        """Give the first resumed epoch a fresh DataLoader iterator, made from the restored generator.

        Every epoch of an uninterrupted fit starts a new iterator (``_TrainingEpochLoop.on_run_start``), which
        draws its base seed from the generator before its sampler draws the epoch's permutation. A resumed fit
        instead reuses the iterator ``FitLoop.setup_data()`` made before this hook, from the unrestored generator,
        and would shuffle from the restored state without the base-seed draw: another permutation. Lightning
        exposes no public hook between making the loader and iterating it, hence the private fetcher.
        """
        fetcher = getattr(trainer.fit_loop, "_data_fetcher", None)
        if fetcher is None:
            raise RuntimeError("this Lightning version has no FitLoop._data_fetcher: the train loader's shuffling "
                               "cannot be resumed exactly (lightning_modules/random_state.py)")
        iter(fetcher)
