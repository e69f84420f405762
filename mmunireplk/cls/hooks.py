# Copyright (c) mmunireplk contributors. All rights reserved.
"""Accept the public ImageNet files wherever a runner loads a checkpoint."""
from mmengine.hooks import Hook

from mmunireplk.checkpoint import ConversionReport
from mmunireplk.checkpoint.imagenet import (convert_imagenet_checkpoint,
                                            is_public_imagenet_layout)
from mmunireplk.registry import HOOKS


@HOOKS.register_module()
class ImageNetCheckpointHook(Hook):
    """Map a public UniRepLKNet ImageNet checkpoint to mmpretrain's layout
    in memory when a runner loads it (``load_from``, ``tools/test.py``,
    mmpretrain's tools); other checkpoints are left alone. Its priority runs
    it before hooks that read the weights (e.g. ``EMAHook``).
    """
    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not is_public_imagenet_layout(checkpoint):
            return
        report = ConversionReport('public ImageNet checkpoint -> mmpretrain')
        converted = convert_imagenet_checkpoint(checkpoint, report=report)
        checkpoint.clear()
        checkpoint.update(converted)
        runner.logger.info('Detected a public UniRepLKNet ImageNet '
                           'checkpoint; mapped in memory:\n' + str(report))
