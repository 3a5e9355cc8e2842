"""Checkpoints that load strictly and save atomically.

detectron2 only logs the keys of a checkpoint that do not fit the model, and a file it cannot
read surfaces as an unpickling error without its name; :class:`TextCheckpointer` raises,
naming the file, and writes its checkpoints so that an interrupted save leaves no truncated
file. A save that fails (disk full) or is interrupted (Ctrl-C, SIGTERM) says so in one line
naming the file, not in torch's chained ``inline_container.cc ... unexpected pos`` errors.
:func:`load_strict` loads trained weights for inference.
"""
from __future__ import annotations

import contextlib
import errno
import logging
import os
import pickle
import zipfile
from collections import Counter
from typing import Any, Dict, Iterator, List, Optional

import torch
from detectron2.checkpoint import DetectionCheckpointer
from torch import nn

from .files import atomic_write

logger = logging.getLogger(__name__)

_SHOWN_SHAPES = 3  # shape mismatches quoted in a message


class UnreadableCheckpoint(ValueError):
    """A checkpoint file that is truncated, corrupt or no PyTorch checkpoint."""


class CheckpointNotSaved(OSError):
    """A checkpoint (or ``last_checkpoint``) that could not be written: no space left on the
    device, or another I/O error. Nothing was written; the files already there are as they
    were. The message is one line: the file and the reason (no chained errors); ``errno``
    and ``filename`` are those of the failure."""

    def __str__(self) -> str:
        return self.args[0]


_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def _chain(error: BaseException):
    """``error`` and the exceptions it was raised from or during, innermost last."""
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


def _save_failure(path: str, error: BaseException, last: Optional[str]
                  ) -> Optional[BaseException]:
    """What to raise for a save of ``path`` that failed with ``error`` (torch wraps the
    writer's error in a ``RuntimeError`` of its zip writer): the interruption (Ctrl-C,
    SIGTERM) itself, logged in one line; a :class:`CheckpointNotSaved` for an ``OSError``;
    None for anything else (raised as it is)."""
    chain = _chain(error)
    kept = (f"{last} is still the last checkpoint" if last
            else "no earlier checkpoint is tagged last")
    interruption = next((e for e in chain if not isinstance(e, Exception)), None)
    if interruption is not None:  # KeyboardInterrupt, Terminated (SIGTERM), SystemExit
        logger.error(f"{path}: interrupted while saving; nothing was written ({kept})")
        return interruption
    os_error = next((e for e in chain if isinstance(e, OSError)), None)
    if os_error is None:
        return None
    if os_error.errno in _NO_SPACE:
        why = "no space left on device"
        fix = f"free space in {os.path.dirname(path) or '.'}, then --resume"
    else:
        why = os_error.strerror or str(os_error)
        fix = "check the folder, then --resume"
    failure = CheckpointNotSaved(f"{path}: {why}; nothing was written ({kept}); {fix}")
    failure.errno, failure.filename = os_error.errno, path
    return failure


def _unreadable(path: str, local: str, error: Exception) -> UnreadableCheckpoint:
    # torch's weights_only explanation ("re-run with weights_only=False") misleads for a file
    # that is merely broken: keep the unpickler's own words, first sentence.
    detail = str(error).split("WeightsUnpickler error:")[-1].strip().split("\n")[0]
    detail = detail.split(". ")[0] or "empty file"
    if isinstance(error, pickle.UnpicklingError) and zipfile.is_zipfile(local):
        why = "it holds objects that torch.load(weights_only=True) refuses"
    else:
        why = "the file is truncated or corrupt (an interrupted save or copy?) or no checkpoint"
    return UnreadableCheckpoint(f"{path}: not a readable checkpoint ({type(error).__name__}: "
                                f"{detail}); {why}")


def _by_module(keys: List[str]) -> str:
    """``"selector (12), roi_heads.deconv (2)"``: ``keys`` counted by their first two names."""
    counts = Counter(".".join(k.split(".")[:2]) for k in keys)
    return ", ".join(f"{m} ({n})" for m, n in counts.most_common())


def _mismatch(missing: List[str], unexpected: List[str], shapes: list) -> str:
    parts = []
    if missing:
        parts.append(f"{len(missing)} key(s) of the model are not in it: {_by_module(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} key(s) in it are not in the model: "
                     f"{_by_module(unexpected)}")
    if shapes:
        parts.append(f"{len(shapes)} shape(s) differ, e.g. " + ", ".join(
            f"{k} {tuple(ckpt)} in the file, {tuple(model)} in the model"
            for k, ckpt, model in shapes[:_SHOWN_SHAPES]))
    return "; ".join(parts)


class TextCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer``, strict where detectron2 logs and goes on.

    :meth:`load` raises ``FileNotFoundError`` for a missing file, :class:`UnreadableCheckpoint`
    (a ``ValueError``) for a file that cannot be read, and ``ValueError`` when the weights' keys
    or shapes differ from the model's, each naming the file. ``allow_partial`` loads what fits
    instead, with a warning (fine-tuning from another architecture).
    :meth:`resume_or_load` is the training entry: ``MODEL.WEIGHTS`` may lack keys of the model
    (new modules, e.g. a DLD student's selector, keep their initialisation; a warning names
    them), and an unreadable last checkpoint names the newest readable one. Checkpoints and
    ``last_checkpoint`` are written atomically (:func:`~dld_spotter.files.atomic_write`); a
    save that fails raises :class:`CheckpointNotSaved` (disk full: "no space left on device"),
    one that is interrupted logs "interrupted while saving" and raises the interruption
    (``KeyboardInterrupt``, :class:`~dld_spotter.engine.signals.Terminated`) itself; each
    names the file, and nothing is half-written.
    """

    def __init__(self, model: nn.Module, save_dir: str = "", *, allow_partial: bool = False,
                 **kwargs):
        super().__init__(model, save_dir, **kwargs)
        self.allow_partial = allow_partial
        self._missing_ok = False
        self._path = ""

    def load(self, path: str, *args, **kwargs) -> Dict[str, Any]:
        if path and "://" not in path and not os.path.isfile(path.split("?")[0]):
            raise FileNotFoundError(f"checkpoint {path!r} does not exist")
        self._path = path
        return super().load(path, *args, **kwargs)

    def _load_file(self, filename: str) -> Dict[str, Any]:
        try:
            return super()._load_file(filename)
        except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
            raise _unreadable(self._path or filename, filename, e) from None

    def _load_model(self, checkpoint: Dict[str, Any]):
        incompatible = super()._load_model(checkpoint)
        shapes = incompatible.incorrect_shapes
        reshaped = {k for k, *_ in shapes}
        missing = [k for k in incompatible.missing_keys if k not in reshaped]
        problems = _mismatch([] if self._missing_ok else missing, incompatible.unexpected_keys,
                             shapes)
        if problems and not self.allow_partial:
            raise ValueError(f"{self._path} does not fit the model ({problems}): is it the "
                             "checkpoint of this config? (--allow-partial / allow_partial=True "
                             "loads what fits, e.g. to fine-tune another architecture)")
        if problems:
            logger.warning(f"{self._path} loaded partially ({problems}); the rest of the model "
                           "keeps its initialisation")
        elif missing:
            logger.warning(f"{self._path} has no weights for {_by_module(missing)}: they start "
                           "from their initialisation")
        return incompatible

    def resume_or_load(self, path: str, *, resume: bool = True) -> Dict[str, Any]:
        """fvcore's: the last checkpoint of ``save_dir`` with its trainer state if ``resume``
        and there is one, else the weights of ``path`` ("" = random initialisation, said once)."""
        if resume and self.has_checkpoint():
            last = self.get_checkpoint_file()
            try:
                return self.load(last)
            except UnreadableCheckpoint as e:
                raise UnreadableCheckpoint(f"{e}. {self._resume_advice(last)}") from None
        if not path:
            logger.info("MODEL.WEIGHTS is empty: the model starts from random initialisation")
            return {}
        self._missing_ok = True
        try:
            return self.load(path, checkpointables=[])
        finally:
            self._missing_ok = False

    def _resume_advice(self, bad: str) -> str:
        """How to resume without the unreadable checkpoint ``bad``: from the newest readable
        other checkpoint of ``save_dir``, if any."""
        others = [f for f in self.get_all_checkpoint_files()
                  if os.path.abspath(f) != os.path.abspath(bad)]
        for candidate in sorted(others, key=os.path.getmtime, reverse=True):
            try:
                torch.load(candidate, map_location="cpu")
            except (OSError, RuntimeError, EOFError, pickle.UnpicklingError):
                continue
            name = os.path.basename(candidate)
            return (f"The newest readable checkpoint is {candidate}: resume from it with\n"
                    f"  echo {name} > {os.path.join(self.save_dir, 'last_checkpoint')}")
        return (f"No other readable checkpoint is in {self.save_dir}: delete {bad} and "
                "'last_checkpoint' there, or train again without --resume")

    def save(self, name: str, **kwargs: Any) -> None:
        """fvcore's ``save``, atomically."""
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        data.update({key: obj.state_dict() for key, obj in self.checkpointables.items()})
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {save_file}")
        with self._saving(save_file):
            with atomic_write(save_file, "wb") as f:
                torch.save(data, f)
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        path = os.path.join(self.save_dir, "last_checkpoint")
        with self._saving(path):
            with atomic_write(path) as f:
                f.write(last_filename_basename)

    @contextlib.contextmanager
    def _saving(self, path: str) -> Iterator[None]:
        """Errors of the writing in the block as :func:`_save_failure` makes them: one line
        naming ``path``, without the chain of torch's zip writer."""
        try:
            yield
        except BaseException as e:
            failure = _save_failure(path, e, self._last_tagged())
            if failure is None or failure is e:
                raise
            if not isinstance(failure, Exception):  # the interruption, unwrapped
                failure.__traceback__ = None
            raise failure from None

    def _last_tagged(self) -> Optional[str]:
        """The path of the checkpoint that ``last_checkpoint`` names, if any."""
        try:
            return self.get_checkpoint_file() if self.has_checkpoint() else None
        except OSError:
            return None


def load_strict(model: nn.Module, path: str, fix: str = "", *,
                allow_partial: bool = False) -> nn.Module:
    """Load the trained weights ``path`` (a file or a ``PathManager`` path such as
    ``dld_spotter://teacher_tiny.pth``) into ``model`` with :class:`TextCheckpointer`, or raise
    naming the file and ``fix``: ``FileNotFoundError`` if it is missing, ``ValueError`` if
    ``path`` is empty (a random model's output is confident nonsense), if the file is no
    readable checkpoint, or if it does not fit the model (another architecture; unless
    ``allow_partial``)."""
    suffix = f"; {fix}" if fix else ""
    if not path:
        raise ValueError("no weights to load (MODEL.WEIGHTS is empty): inference needs trained "
                         "weights, e.g. dld_spotter://teacher_tiny.pth or a model_final.pth"
                         + suffix)
    try:
        TextCheckpointer(model, allow_partial=allow_partial).load(path)
    except (FileNotFoundError, ValueError) as e:
        raise type(e)(f"{e}{suffix}") from None
    return model
