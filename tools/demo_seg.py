# Copyright (c) mmunireplk contributors. All rights reserved.
"""Segmentation demo on CPU: generate data, train, evaluate ss and ms mIoU.

    python tools/demo_seg.py [--work-dir work_dirs/seg_demo] [--max-iters N]

UPerNet + UniRepLKNet-A from scratch on the generated ADE20K-layout data
(``data/seg_demo``), evaluated single-scale and multi-scale + flip (the
config's TTA); about 2 minutes on 2 CPU cores. Results:
``<work_dir>/metrics.json`` (the convention of :mod:`mmunireplk.utils.demo`).
"""
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
try:
    import mmunireplk  # noqa: F401
except ImportError:  # run from a checkout that is not pip-installed
    sys.path.insert(0, ROOT)
from mmunireplk.seg.demo import seg_demo_spec, set_max_iters  # noqa: E402
from mmunireplk.utils.demo import run_demo_cli  # noqa: E402

DEMO_CONFIG = osp.join(ROOT, 'configs', '_demo_',
                       'upernet_unireplknet-a_seg-demo.py')


def main(argv=None) -> dict:
    return run_demo_cli(seg_demo_spec(DEMO_CONFIG), argv, '--max-iters',
                        set_max_iters)


if __name__ == '__main__':
    main()
