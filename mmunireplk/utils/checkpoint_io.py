# Copyright (c) mmunireplk contributors. All rights reserved.
"""Reading and writing mmengine checkpoints safely under torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True`` by default, and mmengine
0.10.7 calls ``torch.load`` without that argument, so checkpoints that
mmengine itself saved (they pickle the message hub's ``HistoryBuffer`` and
numpy arrays) fail to load for ``--resume``, ``load_from`` and
``test.py CKPT``. Allow-listing classes is not enough: ``HistoryBuffer``
pickles bound methods (through ``getattr``), which must never be
allow-listed. :func:`setup_checkpoint_io` therefore replaces mmengine's
local-file checkpoint loader by one that loads with ``weights_only=True``
and, for a file holding other Python objects, logs that and loads it in
full (the user named the file, as with torch < 2.6).

It also registers the file backend ``'mmunireplk_atomic_local'`` whose
writes go to a temporary file renamed into place, so an interrupted save
never leaves a truncated checkpoint or ``last_checkpoint`` behind.
"""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend
from mmengine.runner.checkpoint import CheckpointLoader

from mmunireplk.models.utils.checkpoint import \
    load_local_checkpoint as load_from_local_trusted

ATOMIC_BACKEND = 'mmunireplk_atomic_local'
_state = {'done': False}


class AtomicLocalBackend(LocalBackend):
    """Local file backend whose writes are atomic (temp file + rename)."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes to ``filepath`` atomically."""
        filepath = str(filepath)
        directory = osp.dirname(osp.abspath(filepath))
        os.makedirs(directory, exist_ok=True)
        fd, tmp_path = tempfile.mkstemp(
            prefix='.' + osp.basename(filepath) + '.', dir=directory)
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(obj)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp_path, filepath)
        except BaseException:
            if osp.exists(tmp_path):
                os.remove(tmp_path)
            raise

    def put_text(self,
                 obj: str,
                 filepath: Union[str, Path],
                 encoding: str = 'utf-8') -> None:
        """Write text to ``filepath`` atomically."""
        self.put(obj.encode(encoding), filepath)


def setup_checkpoint_io() -> None:
    """Install the torch >= 2.6 loading fix and the atomic backend (once)."""
    if _state['done']:
        return
    CheckpointLoader.register_scheme(
        prefixes='', loader=load_from_local_trusted, force=True)
    register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)
    _state['done'] = True
