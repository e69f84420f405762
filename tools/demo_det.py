# Copyright (c) mmunireplk contributors. All rights reserved.
"""Detection demo on CPU: generate data, train, evaluate COCO box/mask AP.

    python tools/demo_det.py [--work-dir work_dirs/det_demo] [--epochs N]

Cascade Mask R-CNN + UniRepLKNet-A from scratch on the generated shapes
dataset (``data/det_demo``); about 9 minutes on 2 CPU cores. Results:
``<work_dir>/metrics.json`` (the convention of :mod:`mmunireplk.utils.demo`).
"""
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(0, ROOT)
from mmunireplk.det.demo import det_demo_spec, set_epochs  # noqa: E402
from mmunireplk.utils.demo import run_demo_cli  # noqa: E402

DEMO_CONFIG = osp.join(
    ROOT, 'configs', '_demo_',
    'cascade-mask-rcnn_unireplknet-a_fpn_4conv1fc-giou_det-demo.py')


def main(argv=None) -> dict:
    return run_demo_cli(det_demo_spec(DEMO_CONFIG), argv, '--epochs',
                        set_epochs)


if __name__ == '__main__':
    main()
