"""vidstyle: optimization-based neural style transfer (Gatys et al. 2015) for images and videos.

Importing the package loads no model, touches no GPU and reads no file.
"""

__version__ = "0.1.0"
