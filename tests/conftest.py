# Copyright (c) mmunireplk contributors. All rights reserved.
import logging
import os
from typing import List

import pytest
import torch
from mmengine.logging import MMLogger


class _ListHandler(logging.Handler):

    def __init__(self) -> None:
        super().__init__()
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def mm_log():
    """Messages logged through the current MMLogger during a test."""
    logger = MMLogger.get_current_instance()
    handler = _ListHandler()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def pytest_configure(config):
    # CPU training in the tests (demos, resume, upstream tools) runs with the
    # allocator setting that tools/train.py and the demos use on CPU.
    # (this also puts tools/ on sys.path: test modules import its helper
    # modules, e.g. launch_utils, by name, as the tools there do)
    from tests.helpers import import_tool_module
    import_tool_module('launch_utils').keep_freed_memory_for_reuse()
    # pytest-xdist workers share the cores: torch threads split between
    # them (oversubscribed OpenMP threads spin and slow everyone down)
    workers = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
    if workers > 1:
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) // workers))
