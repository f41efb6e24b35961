"""Training that changes a model or a learned defense: fine-tuning a classifier (on a defense's outputs,
with FGSM adversarial examples, or both: the paper's Fig. 6/7 and Table II rows) and training ComDefend.

It sits beside :mod:`rsdesk.core.evaluation` (both use attacks and defenses; neither imports the other).
Every run checkpoints atomically after each epoch (:mod:`.checkpoint`), so an interrupted command resumes.
"""
