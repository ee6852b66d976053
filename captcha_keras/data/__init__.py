"""Data: synthetic captcha streams, labelled image folders, dataset tools.

Submodules are imported where they are used: `labels`, `folder` and `tools`
must not pull in TensorFlow, so that the dataset scripts start at once.
"""
