"""Weights published by others, made into this package's networks.

    torch_files.py        read torch.save / safetensors files without torch (restricted unpickler)
    pytorch_networks.py   the published PyTorch SR networks: key maps to our layer names,
                          constructor options, reference forwards on their own key names
    convert.py            read a weights file, detect its network, rename / transpose, check,
                          and compare forwards (`parity`); used by tools/convert_weights.py and
                          tools/convert_lpips_weights.py
"""
