"""The `datasets` section of the config: its defaults and checks (config_rules' language),
composed by config.py. Light on purpose (no numpy, no cv2): `--print-config` imports it.

The values each key may take are checked when the config is loaded; a training set's
folders, its `channel` and the realworld `degradation` values (data.realworld) are checked
when the set is built.
"""
from ..config_rules import integer, one_of

# datasets.train.type (data.datasets.TrainPatches)
TRAIN_TYPES = ("hr_only", "paired", "realworld")
SMALL_IMAGE_POLICIES = ("error", "skip")
# Real-ESRGAN's blur kernel families (data.realworld draws them; data.degradations builds them)
KERNEL_TYPES = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso",
                "plateau_aniso")
# datasets.train.degradation.order: Real-ESRGAN's fixed order of each stage's operations, or
# each stage's operations shuffled (BSRGAN); see data.realworld
ORDERS = ("realesrgan", "shuffled")

DEFAULTS = {
    "datasets": {
        "train": {
            "type": "hr_only",       # hr_only: LR made from each HR crop (MATLAB bicubic) | paired
            "hr_dir": "DIV2K/DIV2K_train_HR",  # relative to data_root (or absolute)
            "lr_dir": None,          # paired: e.g. DIV2K/DIV2K_train_LR_bicubic/X4
            "hr_crop": 384,          # HR patch side; the LR patch is hr_crop / scale (96)
            "patches_per_image": 100,  # one epoch = this many random patches per image
            "flip": True,            # random horizontal / vertical flips
            "rot90": True,           # random 90-degree rotations
            # a random order of R, G, B per patch (HR and LR alike): for a few images of one
            # cast (the demos), whose mean colour a pixel loss on JPEG-degraded LR learns
            "channel_shuffle": False,
            "cache": False,          # keep decoded images in memory (per worker)
            "small_images": "error",  # images smaller than hr_crop: error | skip (with a warning)
            "channel": None,         # one channel only: R | G | B | Y | gray | 0..2 (None: RGB)
            "num_workers": 4,        # DataLoader worker processes (0: load in the main process)
            # type realworld: the LR of each HR patch comes from Real-ESRGAN's second-order
            # degradation model (data/realworld.py); defaults: realesrgan_x4plus.yml's values.
            # Other types ignore this section.
            "degradation": {
                "kernel_range": [7, 21],   # odd kernel sides 7, 9, ..., 21
                "kernel_list": list(KERNEL_TYPES),
                "kernel_prob": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03],
                "sinc_prob": 0.1,          # sinc kernel instead of the list's
                "blur_sigma": [0.2, 3.0],
                "betag_range": [0.5, 4.0],  # generalized Gaussian exp(-q^beta / 2)
                "betap_range": [1.0, 2.0],  # plateau 1 / (1 + q^beta)
                "resize_prob": [0.2, 0.7, 0.1],  # up, down, keep
                "resize_range": [0.15, 1.5],
                "gaussian_noise_prob": 0.5,  # else Poisson
                "noise_range": [1.0, 30.0],  # Gaussian sigma, 0-255 scale
                "poisson_scale_range": [0.05, 3.0],
                "gray_noise_prob": 0.4,
                "jpeg_range": [30, 95],
                "second_blur_prob": 0.8,
                "kernel_list2": list(KERNEL_TYPES),
                "kernel_prob2": [0.45, 0.25, 0.12, 0.03, 0.12, 0.03],
                "sinc_prob2": 0.1,
                "blur_sigma2": [0.2, 1.5],
                "betag_range2": [0.5, 4.0],
                "betap_range2": [1.0, 2.0],
                "resize_prob2": [0.3, 0.4, 0.3],
                "resize_range2": [0.3, 1.2],
                "gaussian_noise_prob2": 0.5,
                "noise_range2": [1.0, 25.0],
                "poisson_scale_range2": [0.05, 2.5],
                "gray_noise_prob2": 0.4,
                "jpeg_range2": [30, 95],
                "final_sinc_prob": 0.8,
                "order": "realesrgan",     # realesrgan | shuffled (each stage's ops shuffled)
            },
        },
        "val": {
            "hr_dir": "benchmarks/Set5/HR",  # whole images, mod-cropped to the scale
            "lr_dir": None,          # None: LR made by MATLAB bicubic; or a folder of LR images
            "channel": None,
            "max_images": None,      # validate on the first N images only (None: all)
        },
    },
}

ALLOWED = {
    "datasets.train.type": one_of(*TRAIN_TYPES),
    "datasets.train.hr_crop": integer(1),
    "datasets.train.patches_per_image": integer(1),
    "datasets.train.small_images": one_of(*SMALL_IMAGE_POLICIES),
    "datasets.train.num_workers": integer(0),
    # the one check of the order: data.realworld trusts it
    "datasets.train.degradation.order": one_of(*ORDERS),
    "datasets.val.max_images": integer(1, optional=True),
}

COMBINATIONS = [
    (("datasets.train.hr_crop", "scale"), lambda crop, scale: crop % scale == 0,
     "'datasets.train.hr_crop' ({0}) must be a multiple of the scale ({1}), e.g. {1}x96"),
    (("datasets.train.type", "datasets.train.lr_dir"),
     lambda kind, lr_dir: kind != "paired" or lr_dir is not None,
     "'datasets.train.type' is 'paired' but 'datasets.train.lr_dir' is not set"),
    (("datasets.train.channel_shuffle", "datasets.train.channel"),
     lambda shuffle, channel: not shuffle or channel is None,
     "'datasets.train.channel_shuffle' needs RGB patches, but 'datasets.train.channel' is "
     "{1!r}"),
]
