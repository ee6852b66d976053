"""Data: synthetic captcha streams, labelled image folders, dataset tools.

    synthetic.py      render_captcha + SyntheticCaptchas (keras.utils.PyDataset), seeded per batch
    cache.py          CachedCaptchas: a pool of drawn captchas, partly redrawn each epoch
    labels.py         labels from file names or labels.csv / labels.tsv
    folder.py         read a labelled folder; bad files reported and skipped (or strict)
    folder_stream.py  FolderCaptchas: batches of real captchas, augmented, mixed with synthetic
    augment.py        shifts, rotation, scale, blur, noise
    splits.py         a run's train / validation / test images
    targets.py        the targets of both model families
  dataset tools (scripts/generate.py, scripts/dataset.py):
    generate.py       write a folder of synthetic captchas
    survey.py         what a labelled folder holds, decoded once
    stats.py, partition.py, dedupe.py, merge.py   stats, split, dedupe, merge
    files.py, tables.py                           writing folders; text tables

Submodules are imported where they are used: the folder and dataset-tool
modules must not pull in TensorFlow, so that the dataset scripts start at once.
"""
