"""What the project ships: the sample corpus it wrote, dataset descriptors and download code."""
