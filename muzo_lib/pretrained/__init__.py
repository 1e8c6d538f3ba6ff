"""Pretrained networks: musicnn in PyTorch, its embeddings, and classifiers trained on them.

Imports flow one way: tf_checkpoint -> musicnn -> embeddings -> classifier.
"""
