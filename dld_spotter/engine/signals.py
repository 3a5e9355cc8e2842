"""SIGTERM, what ``timeout``, ``kill``, SLURM and ``docker stop`` send, stops work the way
Ctrl-C does: an exception in the main thread, so that ``finally`` blocks and the trainer's
``after_train`` hooks (``model_interrupted.pth``) run before the process exits. A run of
several processes (``--num-gpus 2``) exits as its ranks did: 143 after a SIGTERM, in one line
(:func:`exit_as_ranks`)."""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
from typing import Iterator

logger = logging.getLogger(__name__)


class Terminated(SystemExit):
    """Raised by SIGTERM inside :func:`sigterm_raises`; exits with status 143 (128 + 15)."""

    def __init__(self) -> None:
        super().__init__(128 + signal.SIGTERM)


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, the first SIGTERM raises :class:`Terminated` in this process; later
    ones are ignored, so that the saving the first one triggers completes. Processes forked
    inside the block (data loader workers) keep SIGTERM's default action; once this process
    stops, their deaths (a SIGTERM to the process group reaches them too) no longer raise
    PyTorch's "DataLoader worker is killed" in the middle of that saving. A no-op outside the
    main thread, where Python cannot set signal handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    owner, stopping = os.getpid(), []

    def handler(signum, frame) -> None:
        if os.getpid() != owner:  # a forked worker: die, as without this handler
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        if stopping:
            logger.warning("SIGTERM again: still stopping")
            return
        stopping.append(signum)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # PyTorch's worker-failure check
        logger.warning("SIGTERM: stopping as on Ctrl-C")
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def sigterm_to_children() -> Iterator[None]:
    """Within the block, SIGTERM to this process is passed on to its multiprocessing children
    (the ranks that detectron2's ``launch`` spawns, each inside :func:`sigterm_raises`), and
    this process keeps waiting for them to save and exit."""

    def forward(signum, frame) -> None:
        children = multiprocessing.active_children()
        logger.warning(f"SIGTERM: passing it on to {len(children)} training process(es)")
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def exit_as_ranks() -> Iterator[None]:
    """Within the block (around detectron2's ``launch`` of several ranks), a rank that exits
    with a non-zero status (``torch.multiprocessing``'s ``ProcessExitedException``) makes this
    process exit with that status after one line on stderr, instead of a traceback: 143 for a
    rank stopped by SIGTERM (:class:`Terminated`, or killed by the signal), as a run of one
    process exits. The rank's own messages (its error, ``model_interrupted.pth``) come before."""
    from torch.multiprocessing import ProcessExitedException

    try:
        yield
    except ProcessExitedException as e:
        code = e.exit_code
        if code in (128 + signal.SIGTERM, -signal.SIGTERM):
            status = 128 + signal.SIGTERM
            line = ("SIGTERM: the training processes stopped (see above for model_interrupted.pth;"
                    " --resume continues)")
        elif code < 0:
            status = 128 - code
            line = f"training process {e.error_index} was killed by {e.signal_name}"
        else:
            status = code
            line = f"training process {e.error_index} exited with status {code} (its reason above)"
        print(line, file=sys.stderr, flush=True)
        raise SystemExit(status) from None
