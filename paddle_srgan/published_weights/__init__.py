"""Weights published by others, made into this package's networks.

    stored_arrays.py      stored bytes -> numpy arrays (dtypes, byte order, bfloat16), the bound
                          on what a zip entry may inflate to
    torch_files.py        read torch.save files without torch (restricted unpickler); hands
                          .safetensors to safetensors_files.py (its own header checks)
    pytorch_networks.py   the published PyTorch SR networks: key maps to our layer names, the
                          class of models.MODELS each one is, reference forwards on their own
                          key names
    convert.py            read a weights file, detect its network, rename / transpose, check,
                          and compare forwards (`parity`); used by tools/convert_weights.py and
                          tools/convert_lpips_weights.py
"""
