"""One image, tensors in and out: the network, the losses, the optimisation loops, device and
precision, the Stylizer and the one function that builds it, colour preservation, the cartoon look.

Nothing here reads or writes files, decodes video or starts threads.
"""
