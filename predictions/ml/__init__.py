"""Plain numpy / scikit-learn code: features, training, artifacts, explanations, embeddings.

Nothing in this package imports Django, so it can be tested and benchmarked on its own.
"""
