"""Models: MODEL references (zoo names, ``torchvision:``/``timm:``, ``file.py:Symbol``) to ``nn.Module``s,
and the built-in zoo. Uses :mod:`archinspect.core` only to build on the meta device."""
