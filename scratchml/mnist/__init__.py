"""MNIST with scratchml.nn: data loading, the default recipe, figures, and reading a user's image."""
