"""Weights published by others, made into this package's networks.

    stored_arrays.py      stored bytes -> numpy arrays (dtypes, byte order, bfloat16), the bound
                          on what a zip entry may inflate to
    torch_files.py        read torch.save files without torch (restricted unpickler); hands
                          .safetensors to safetensors_files.py (its own header checks)
    layout.py             what a layout is (keys that identify it, key map, the class of
                          models.MODELS, what its tensors tell, reference forward) and the ops
                          reference forwards are written in (torch or Paddle)
    srresnet_networks.py  the SRResNet family's layouts (sgrvinod, ONNX example, BasicSR
                          MSRResNet, leftthomas, the sgrvinod discriminator)
    esrgan_networks.py    the ESRGAN family's: RRDBNet in ESRGAN's two layouts and BasicSR's,
                          SRVGGNetCompact, the VGG-style and U-Net (spectral norm) discriminators
    pytorch_networks.py   the table of all layouts (LAYOUTS)
    convert.py            read a weights file, detect its layout, rename / transpose, read the
                          network's options, check, and compare forwards (`parity`); used by
                          tools/convert_weights.py and tools/convert_lpips_weights.py
"""
