# Copyright (c) mmunireplk contributors. All rights reserved.
"""Classification demo on CPU: generate data, train, evaluate top-1/top-5.

    python tools/demo_cls.py [--work-dir work_dirs/cls_demo] [--epochs N]

mmpretrain ImageClassifier + UniRepLKNet-A from scratch on generated
5-class images (``data/cls_demo``). Results: ``<work_dir>/metrics.json``
(the convention of :mod:`mmunireplk.utils.demo`).
"""
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(0, ROOT)
from mmunireplk.cls.demo import cls_demo_spec, set_max_epochs  # noqa: E402
from mmunireplk.utils.demo import run_demo_cli  # noqa: E402

DEMO_CONFIG = osp.join(ROOT, 'configs', '_demo_', 'unireplknet-a_cls-demo.py')


def main(argv=None) -> dict:
    return run_demo_cli(cls_demo_spec(DEMO_CONFIG), argv, '--epochs',
                        set_max_epochs)


if __name__ == '__main__':
    main()
