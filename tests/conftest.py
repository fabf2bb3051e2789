import torch

# Random-init MobileOne in eval mode can produce denormals, which make CPU convs ~100x slower.
torch.set_flush_denormal(True)
