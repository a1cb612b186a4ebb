"""The name of a per-level value of a multi-level generator (LapSRN), one spelling for every
layer that names one: the data (training targets), the losses (terms), evaluation (scores).
No Paddle: the data and the networks both import it, neither importing the other.
"""


def level_key(name, scale):
    """The key of a per-level value of a multi-level generator (LapSRN): 'psnr_x2' for the
    x2 level's PSNR, 'hr_x2' for its training target, 'pixel_x2' for its loss term."""
    return f"{name}_x{scale}"
