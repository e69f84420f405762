# Copyright (c) mmunireplk contributors. All rights reserved.
"""mmpretrain's ImageClassificationInferencer and get_model with our config
and a converted (generated) checkpoint, read by the weights-only loaders
(installed as our tools install them)."""
import numpy as np
import torch
from mmengine.config import Config

from mmunireplk.checkpoint import install_safe_loaders, save_checkpoint_atomic
from mmunireplk.checkpoint.imagenet import convert_imagenet_checkpoint
from .conftest import config_path, make_public_checkpoint


def test_image_classification_inferencer(tmp_path, mmpretrain_scope):
    from mmpretrain import ImageClassificationInferencer, get_model
    from mmpretrain.datasets.categories import IMAGENET_CATEGORIES
    install_safe_loaders()
    config = config_path('unireplknet-a_32xb128_in1k.py')
    ckpt = str(tmp_path / 'a.pth')
    save_checkpoint_atomic(
        convert_imagenet_checkpoint(
            make_public_checkpoint('atto', seed=5),
            classes=IMAGENET_CATEGORIES), ckpt)

    inferencer = ImageClassificationInferencer(
        model=config, pretrained=ckpt, device='cpu')
    images = [
        np.random.default_rng(i).integers(0, 256, (180, 240, 3), np.uint8)
        for i in range(2)
    ]
    results = inferencer(images, batch_size=2)
    assert len(results) == 2

    # the same numbers by hand: the config's test pipeline and the model
    model = get_model(Config.fromfile(config), pretrained=ckpt).eval()
    from mmengine.dataset import Compose
    from mmpretrain.registry import TRANSFORMS  # noqa: F401
    cfg = Config.fromfile(config)
    pipeline = Compose(cfg.test_dataloader.dataset.pipeline[1:])
    for img, result in zip(images, results):
        data = pipeline(dict(img=img, img_shape=img.shape[:2],
                             ori_shape=img.shape[:2]))
        batch = model.data_preprocessor(
            dict(inputs=[data['inputs']], data_samples=None), False)
        with torch.no_grad():
            scores = model(batch['inputs'], mode='tensor').softmax(-1)[0]
        label = int(scores.argmax())
        assert result['pred_label'] == label
        assert abs(result['pred_score'] - float(scores[label])) < 1e-5
        assert result['pred_class'] == IMAGENET_CATEGORIES[label]
        np.testing.assert_allclose(result['pred_scores'], scores.numpy(),
                                   atol=1e-6)
