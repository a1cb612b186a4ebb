"""The image folders a config names: relative to `data_root`, listed with the config key in
every error, and the LR partner of each HR file (paired training data, benchmark LR folders).
Shared by the training patches (`datasets`) and the benchmark sets (`benchmarks`).
"""
from pathlib import Path

from ..errors import InputError
from .io import list_images

__all__ = ["resolve_dir", "list_config_images", "match_lr_files", "check_lr_size"]


def resolve_dir(path, data_root):
    """``path`` as a Path, joined to ``data_root`` when it is relative (and a root is given)."""
    path = Path(path).expanduser()
    if data_root is None or path.is_absolute():
        return path
    return Path(data_root).expanduser() / path


def list_config_images(folder, key):
    """io.list_images with the config key in front of the message, so users know what to fix."""
    try:
        return list_images(folder)
    except (FileNotFoundError, NotADirectoryError, ValueError) as exc:
        raise type(exc)(f"'{key}': {exc}") from None


def match_lr_files(hr_files, lr_dir, scale, key="lr_dir"):
    """The LR partner of each HR file, by file stem.

    A partner of ``0001.png`` is any image in ``lr_dir`` named ``0001.*`` or, DIV2K style,
    ``0001x{scale}.*``.

    Args:
        hr_files: list of Path.
        lr_dir: folder of LR images.
        scale: int, for the DIV2K-style name.
        key: config key named in errors.

    Returns:
        list of Path, parallel to ``hr_files``.
    """
    by_stem = {p.stem: p for p in list_config_images(lr_dir, key)}
    partners = []
    for hr in hr_files:
        names = (hr.stem, f"{hr.stem}x{scale}")
        match = next((by_stem[n] for n in names if n in by_stem), None)
        if match is None:
            raise FileNotFoundError(f"'{key}': no LR image for {hr} in {lr_dir} (looked for "
                                    f"{names[0]}.* and {names[1]}.*)")
        partners.append(match)
    return partners


def check_lr_size(hr_path, hr_size, lr_path, lr_size, scale):
    """LR sides must be the HR sides // scale (the LR of the mod-cropped HR)."""
    expected = (hr_size[0] // scale, hr_size[1] // scale)
    if tuple(lr_size) != expected:
        raise InputError(f"LR {lr_path} is {lr_size[0]}x{lr_size[1]}, but HR {hr_path} "
                         f"({hr_size[0]}x{hr_size[1]}) at scale {scale} needs "
                         f"{expected[0]}x{expected[1]}")
