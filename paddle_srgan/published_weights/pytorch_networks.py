"""The table of published PyTorch SR networks' weight layouts (`LAYOUTS`: name -> layout.Layout),
one entry per layout, gathered from its family's module:

    srresnet_networks.py   srresnet, onnx_srresnet, msrresnet, leftthomas, discriminator
    esrgan_networks.py     esrgan_old_arch, esrgan, rrdbnet, srvgg, vgg_discriminator,
                           unet_discriminator

Each says which keys identify it, how they map to our layer names, the class of our model table
it is, what its tensors tell of that class's options and its forward pass on its own key names
(run with torch or Paddle ops by `convert.parity`). `convert.py` reads, converts and checks
files with it; a new layout is one entry in its family's table.
"""
from .esrgan_networks import ESRGAN_LAYOUTS
from .layout import Layout, ReferenceOps
from .srresnet_networks import SRRESNET_LAYOUTS

LAYOUTS = {**SRRESNET_LAYOUTS, **ESRGAN_LAYOUTS}

__all__ = ["LAYOUTS", "Layout", "ReferenceOps"]
