# Copyright (c) mmunireplk contributors. All rights reserved.
"""Accept the public ImageNet files wherever a runner loads a checkpoint."""
from mmengine.hooks import Hook

from mmunireplk.checkpoint import ConversionReport
from mmunireplk.checkpoint.imagenet import (convert_imagenet_checkpoint,
                                            is_public_imagenet_layout)
from mmunireplk.registry import HOOKS


@HOOKS.register_module()
class ImageNetCheckpointHook(Hook):
    """Map a public UniRepLKNet ImageNet checkpoint in memory on loading.

    mmengine's ``Runner.load_checkpoint`` (``load_from``, ``tools/test.py
    CONFIG CHECKPOINT``, also mmpretrain's own tools) calls
    ``after_load_checkpoint`` before the weights reach the model. When the
    file is in the public layout (un-prefixed backbone keys plus
    ``norm.*``/``head.*``), this hook replaces its content by the
    mmpretrain layout (:func:`convert_imagenet_checkpoint`) and logs what
    it mapped; any other checkpoint is left alone. Its priority runs it
    before hooks that read the weights (e.g. ``EMAHook``).
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
