"""Data: synthetic captcha streams, labelled image folders, dataset tools.

    synthetic.py           render_captcha + SyntheticCaptchas (keras.utils.PyDataset), seeded per batch
    styles.py              the looks beyond the `captcha` package's: fonts, colours, noise, arithmetic
    texts.py               the labels a synthetic stream draws, lookalike characters more often
    captcha_randomness.py  seeded randomness for the `captcha` package (used by synthetic and styles)
    cache.py               CachedCaptchas: a pool of drawn captchas, partly redrawn each epoch
    labels.py              labels from file names or labels.csv / labels.tsv
    folder.py              read a labelled folder; bad files reported and skipped (or strict)
    folder_stream.py       FolderCaptchas: batches of real captchas, augmented, mixed with synthetic
    augment.py             shifts, rotation, scale, blur, noise
    splits.py              a run's train / validation / test images
    targets.py             the targets of both model families
  dataset tools (scripts/generate.py, scripts/dataset.py):
    generate.py            write a folder of synthetic captchas
    survey.py              what a labelled folder holds, decoded once
    stats.py               the numbers of a folder: labels, lengths, characters, sizes
    partition.py           split a folder into seeded parts on disk
    dedupe.py              find images with the same pixels; keep one of each
    merge.py               copy several labelled folders into one
    files.py               writing folders: links or copies, labels.csv, overwrite checks
    tables.py              plain-text tables and bad-file listings for the reports

Submodules are imported where they are used: the folder and dataset-tool
modules must not pull in TensorFlow, so that the dataset scripts start at once.
"""
