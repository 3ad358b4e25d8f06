"""Image-level extras on top of the core: folder batches, the augmentation transform, parameter
sweeps, reconstructions from each layer, labelled picture grids."""
